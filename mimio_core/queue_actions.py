"""What the dashboard and the CLI do to a person's queue: the store's queue control plus the checks
a person's input needs (an edit is validated as the form validates a new video) and the selections
they act on (a run, everything waiting, every failed video of a filtered list)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from mimio_core.catalogue import MODELS, ModelSpec
from mimio_core.domain import TrackedVideo, UserRequest, VideoRequest, VideoStatus, spec_fields
from mimio_core.store.base import GONE, Library, VideoFilter
from mimio_core.store.queue_control import Asked, QueueRefused, VideoEdit, not_waiting
from mimio_core.validation import ValidationError, validate_request

S = VideoStatus
PAGE = 1000
WAITING_STATES = frozenset({S.QUEUED})
RETRYABLE_STATES = frozenset({S.FAILED, S.CANCELLED})


def video_ids(library: Library, user_id: str, where: VideoFilter) -> list[str]:
    """Every one of the person's videos the filter selects (the whole list, not one page)."""
    found: list[str] = []
    while page := library.list_videos(user_id, where, limit=PAGE, offset=len(found)):
        found += [video.id for video in page]
        if len(page) < PAGE:
            break
    return found


def ask_run(library: Library, user_id: str, batch_id: str, request: UserRequest) -> Asked:
    """One request for every video of one submission (a run) it applies to."""
    return library.ask_many(user_id, video_ids(library, user_id, VideoFilter(batch_id=batch_id)), request)


def narrowed(where: VideoFilter, states: frozenset[VideoStatus]) -> VideoFilter:
    """`where` narrowed to `states`, as the filtered list shows them (none when its own states exclude
    them): what a bulk action acts on, and what a page counts before offering it."""
    return replace(where, states=states if where.states is None else where.states & states)


def waiting(where: VideoFilter = VideoFilter()) -> VideoFilter:
    """The waiting (queued or paused) videos among those `where` selects."""
    return narrowed(where, WAITING_STATES)


def retryable(where: VideoFilter = VideoFilter()) -> VideoFilter:
    """The failed and cancelled videos among those `where` selects."""
    return narrowed(where, RETRYABLE_STATES)


def cancel_waiting(library: Library, user_id: str, where: VideoFilter = VideoFilter()) -> Asked:
    """Cancel every waiting (queued or paused) video the filter selects; none at a provider."""
    return library.ask_many(user_id, video_ids(library, user_id, waiting(where)), UserRequest.CANCEL)


def retry_failed(library: Library, user_id: str, where: VideoFilter = VideoFilter()) -> Asked:
    """Retry every failed or cancelled video the filter selects, except those that need an edit
    first (a policy refusal, a request that cannot be made): `skipped` counts them."""
    return library.ask_many(user_id, video_ids(library, user_id, retryable(where)), UserRequest.RETRY)


def edit_waiting(
    library: Library,
    user_id: str,
    video_id: str,
    changes: VideoRequest,
    *,
    max_reference_bytes: int,
    models: Mapping[str, ModelSpec] = MODELS,
) -> TrackedVideo:
    """Replace a waiting video's title and request with `changes`, validated as the form validates a
    new video (its reference stays; the new model must take one); `ValidationError` naming each
    field at fault, `QueueRefused` once it has started."""
    video = library.get_video(video_id)
    if video is None or video.user_id != user_id:
        raise QueueRefused(GONE)
    if video.status is not S.QUEUED:
        raise QueueRefused(not_waiting(video))
    valid = validate_request(changes, max_reference_bytes=max_reference_bytes, models=models)
    if video.reference_path and not models[valid.model].reference_kinds:
        raise ValidationError({"model": f"{valid.model} takes no reference image, and this video has one."})
    return library.edit(user_id, video_id, VideoEdit(title=valid.title, **spec_fields(valid)))
