"""The progress panel shown after a submit: overall progress, counts, the run's queue buttons, and a
card per video.

It refreshes itself (a fragment on a timer) only while an engine may change a video (not paused, not
final); when the last one ends or is paused it reruns the page once, which recomputes the timer as off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import streamlit as st

from mimio_core.catalogue import ModelSpec
from mimio_core.domain import TrackedVideo
from mimio_core.runtime import Runtime
from mimio_core.spend import run_cost
from mimio_core.ui.cards import BADGE_ORDER, badge_markup, may_change, video_badge, video_grid
from mimio_core.ui.queue_control import refresh_after_action, run_controls
from mimio_core.ui.runtime import workers_notice
from mimio_core.workspace import Workspace

REFRESH = timedelta(seconds=2)


def summary(videos: Sequence[TrackedVideo], catalogue: Mapping[str, ModelSpec]) -> None:
    """Overall progress, counts per status ("2 of 3 finished", paused ones apart) and the run's list
    price."""
    counts = {badge: sum(video_badge(v) == badge for v in videos) for badge in BADGE_ORDER}
    overall = sum(100 if v.is_final else v.progress for v in videos) / max(1, len(videos))
    done = sum(v.is_final for v in videos)
    st.progress(overall / 100, text=f"{done} of {len(videos)} finished")
    # one line of badges, of the states some video is in: metrics would stack into a screenful on a phone
    line = " ".join(f"{badge_markup(badge, count)}" for badge, count in counts.items() if count)
    if (cost := run_cost(catalogue, videos)) is not None:
        line += f" &nbsp; :material/payments: ${cost:.2f} at list price"
    st.markdown(line)


def progress_panel(runtime: Runtime, workspace: Workspace, video_ids: list[str], key: str) -> None:
    """Live panel for the videos of one run, with its queue buttons; the store is read on each tick,
    never session state."""
    in_flight = may_change(workspace.store.get_videos(video_ids))

    @st.fragment(run_every=REFRESH if in_flight else None)
    def panel() -> None:
        refresh_after_action()
        videos = workspace.store.get_videos(video_ids)
        if any(not v.is_final for v in videos):  # here too: on a phone the sidebar is closed
            workers_notice(runtime, workspace, only_warning=True)
        summary(videos, runtime.catalogue)
        run_controls(runtime, workspace, videos, key)
        video_grid(runtime, workspace, videos, key)
        if in_flight != may_change(videos):
            st.rerun()  # the whole page: only a full run turns the timer on (a Retry) or off (all done)

    panel()
