"""The progress panel shown after a submit: overall progress, counts, and a card per video.

It refreshes itself (a fragment on a timer) only while something is in flight; when the last video
ends it reruns the page once, which recomputes the timer as off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

import streamlit as st

from mimio_core.catalogue import ModelSpec
from mimio_core.domain import TrackedVideo, VideoStatus
from mimio_core.runtime import Runtime
from mimio_core.spend import run_cost
from mimio_core.ui.cards import badge_markup, video_grid
from mimio_core.ui.runtime import workers_notice
from mimio_core.workspace import Workspace

REFRESH = timedelta(seconds=2)


def summary(videos: Sequence[TrackedVideo], catalogue: Mapping[str, ModelSpec]) -> None:
    """Overall progress, counts per status ("2 of 3 finished") and the run's list price."""
    counts = {status: sum(v.status is status for v in videos) for status in VideoStatus}
    overall = sum(100 if v.is_final else v.progress for v in videos) / max(1, len(videos))
    done = sum(v.is_final for v in videos)
    st.progress(overall / 100, text=f"{done} of {len(videos)} finished")
    # one line of badges, of the states some video is in: metrics would stack into a screenful on a phone
    line = " ".join(f"{badge_markup(status, count)}" for status, count in counts.items() if count)
    if (cost := run_cost(catalogue, videos)) is not None:
        line += f" &nbsp; :material/payments: ${cost:.2f} at list price"
    st.markdown(line)


def progress_panel(runtime: Runtime, workspace: Workspace, video_ids: list[str], key: str) -> None:
    """Live panel for the videos of one run; the store is read on each tick, never session state."""
    in_flight = any(not v.is_final for v in workspace.store.get_videos(video_ids))

    @st.fragment(run_every=REFRESH if in_flight else None)
    def panel() -> None:
        videos = workspace.store.get_videos(video_ids)
        if any(not v.is_final for v in videos):  # here too: on a phone the sidebar is closed
            workers_notice(runtime, workspace, only_warning=True)
        summary(videos, runtime.catalogue)
        video_grid(runtime, workspace, videos, key)
        if in_flight != any(not v.is_final for v in videos):
            st.rerun()  # the whole page: only a full run turns the timer on (a Retry) or off (all done)

    panel()
