"""Moving a finished video from the provider into storage, without holding it in memory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mimio_core.providers.base import ProviderError, VideoProvider
from mimio_core.store.base import FileStorage, video_key
from mimio_core.validation import detect_type

VIDEO_CONTENT_TYPE = "video/mp4"


class NotAVideo(ProviderError):
    """The provider's download was something other than a video: retrying will not change it."""


def transfer_video(
    provider: VideoProvider, files: FileStorage, user_id: str, video_id: str, job_id: str, scratch: Path
) -> str:
    """Stream the job's file to a scratch file, check it is a video, store it; returns its storage key.

    When the key is already stored (a previous run stored it and stopped before recording it), the
    provider is not asked again: each finished video is downloaded once.
    """
    key = video_key(user_id, video_id)
    if files.exists(key):
        return key
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, prefix=f"{video_id}-", suffix=".mp4") as part:
        size = provider.download(job_id, part)  # type: ignore[arg-type]
        part.flush()
        part.seek(0)
        mime, description = detect_type(part.read(64 * 1024))
        if size == 0 or not mime.startswith("video/"):
            raise NotAVideo(f"the provider's download is {description} ({size} bytes), not a video")
        files.put_file(key, Path(part.name), VIDEO_CONTENT_TYPE)
    return key
