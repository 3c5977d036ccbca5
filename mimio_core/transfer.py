"""Moving a finished video from the provider into storage, without holding it in memory, and a
thumbnail beside it."""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from mimio_core.leftovers import writer_tag
from mimio_core.media import first_video_frame
from mimio_core.providers.base import ProviderError, VideoProvider
from mimio_core.store.base import FileStorage, thumbnail_key, video_key
from mimio_core.validation import detect_type

log = logging.getLogger(__name__)

VIDEO_CONTENT_TYPE = "video/mp4"
THUMBNAIL_WIDTH = 320


class NotAVideo(ProviderError):
    """The provider's download was something other than a video: retrying will not change it."""


@dataclass(frozen=True)
class StoredVideo:
    key: str
    thumbnail_key: str | None


def transfer_video(
    provider: VideoProvider, files: FileStorage, user_id: str, video_id: str, job_id: str, scratch: Path
) -> StoredVideo:
    """Stream the job's file to a scratch file, check it is a video, store it with a thumbnail.

    When the video is already stored (a previous run stored it and stopped before recording it), the
    provider is not asked again: each finished video is downloaded once.
    """
    key = video_key(user_id, video_id)
    if files.exists(key):
        thumb = thumbnail_key(user_id, video_id)
        return StoredVideo(key, thumb if files.exists(thumb) else None)
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, prefix=f"{writer_tag()}{video_id}-", suffix=".mp4") as part:
        size = provider.download(job_id, part)  # type: ignore[arg-type]
        part.flush()
        part.seek(0)
        mime, description = detect_type(part.read(64 * 1024))
        if size == 0 or not mime.startswith("video/"):
            raise NotAVideo(f"the provider's download is {description} ({size} bytes), not a video")
        stored_thumb = _store_thumbnail(provider, files, user_id, video_id, job_id, Path(part.name))
        files.put_file(key, Path(part.name), VIDEO_CONTENT_TYPE)
    return StoredVideo(key, stored_thumb)


def _store_thumbnail(
    provider: VideoProvider, files: FileStorage, user_id: str, video_id: str, job_id: str, video: Path
) -> str | None:
    """The provider's thumbnail when it offers one, else the first frame; a thumbnail that cannot be
    made never fails the video."""
    try:
        image = _provider_thumbnail(provider, job_id) or first_frame(video)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        key = thumbnail_key(user_id, video_id)
        files.put_bytes(key, buffer.getvalue(), "image/jpeg")
    except (OSError, ValueError, av.FFmpegError) as exc:
        log.warning("no thumbnail for video %s: %s", video_id, exc)
        return None
    return key


def _provider_thumbnail(provider: VideoProvider, job_id: str) -> Image.Image | None:
    """The provider's still, scaled; None when it offers none or it does not decode (the first frame
    serves then)."""
    data = provider.thumbnail(job_id)
    if data is None:
        return None
    try:
        image = Image.open(io.BytesIO(data)).convert("RGB")
    except (OSError, ValueError) as exc:
        log.info("the provider's thumbnail of %s does not decode (%s); using the first frame", job_id, exc)
        return None
    image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 4))
    return image


def first_frame(video: Path) -> Image.Image:
    """The video's first frame (upright, as a player shows it), scaled to thumbnail width."""
    image = first_video_frame(video)
    image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 4))
    return image
