"""Recording a submission: the videos' records (queued) and their reference files, nothing more.

It runs through whichever store and file storage the caller acts with: a signed-in user's own (so
Row Level Security checks the writes) or the engine's. The engine picks queued videos up by itself.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import replace
from datetime import datetime

from mimio_core.domain import CheckedReference, TrackedVideo, ValidRequest, spec_fields
from mimio_core.errors import BadInput
from mimio_core.store.base import FileStorage, Library, NewVideo, reference_key
from mimio_core.store.queue_control import MAX_PRIORITY

log = logging.getLogger(__name__)


def as_variations(request: ValidRequest, count: int) -> list[ValidRequest]:
    """`count` copies of one request with unique titles ("<title> - Variation 2")."""
    if count == 1:
        return [request]
    return [replace(request, title=f"{request.title} - Variation {n}") for n in range(1, count + 1)]


def record_submission(
    store: Library,
    files: FileStorage,
    requests: list[ValidRequest],
    user_id: str,
    submission_id: str | None = None,
    priority: int = 0,
    not_before: datetime | None = None,
) -> list[TrackedVideo]:
    """Record the videos as queued; they share a batch id when more than one, and `priority` (higher
    is sent first; `MAX_PRIORITY` either way) and `not_before` (a scheduled run: not sent earlier).

    `submission_id` makes this idempotent: the same id (a form's double click, a retried call) names
    the same records, so a second call returns the first one's videos instead of new ones.
    """
    if not requests:
        return []
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise BadInput(f"Priority goes from -{MAX_PRIORITY} to {MAX_PRIORITY}; {priority} is out of range.")
    submission = uuid.UUID(submission_id) if submission_id else uuid.uuid4()

    def derived(part: str) -> str:
        return str(uuid.uuid5(submission, part))

    batch_id = derived("batch") if len(requests) > 1 else None
    references = [_store_reference(files, user_id, request.reference) for request in requests]
    videos = [
        NewVideo(
            id=derived(f"video-{index}"),
            user_id=user_id,
            title=request.title,
            **spec_fields(request),
            project_id=request.project_id,
            batch_id=batch_id,
            reference_path=references[index],
            reference_type=None if request.reference is None else request.reference.mime,
            priority=priority,
            not_before=not_before,
        )
        for index, request in enumerate(requests)
    ]
    recorded = store.insert_videos(videos)
    # an engine deleting the last video made from the same image may have removed the file meanwhile
    stored = {key: request.reference for key, request in zip(references, requests, strict=True) if key}
    for key, reference in stored.items():
        if reference is not None and not files.exists(key):
            files.put_bytes(key, reference.data, reference.mime)
    log.info("recorded %d video(s): %s", len(recorded), ", ".join(v.id for v in recorded))
    return recorded


def _store_reference(files: FileStorage, user_id: str, reference: CheckedReference | None) -> str | None:
    """The reference under the user's folder, named by its content: the same image is stored once."""
    if reference is None:
        return None
    key = reference_key(user_id, hashlib.sha256(reference.data).hexdigest(), reference.mime)
    if not files.exists(key):
        files.put_bytes(key, reference.data, reference.mime)
    return key
