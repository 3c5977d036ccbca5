"""The embedded file storage: a folder under the data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from mimio_core.leftovers import remove_stale, remove_written_by, writer_tag
from mimio_core.store.base import FileStorage


class LocalFileStorage(FileStorage):
    """Files at `<root>/<key>`; writes go to a temporary name first so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        remove_stale(root, "**/.incoming-*")  # writes a killed process never finished

    def remove_partial_writes(self, pid: int) -> int:
        return remove_written_by(self.root, f"**/.incoming-{writer_tag(pid)}*")

    def path(self, key: str) -> Path:
        """Where a key lives on disk; refuses keys that would escape the root."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the storage folder: {key!r}")
        return path

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".incoming-{writer_tag()}")
        try:
            with os.fdopen(handle, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        def copy(out: BinaryIO) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        self._write(key, copy)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._write(key, lambda out: out.write(data))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self.path(key).open("rb") as src:
            while chunk := src.read(chunk_size):
                yield chunk

    def media_source(self, key: str) -> str:
        return str(self.path(key))

    def prefetch_media_sources(self, keys: Sequence[str]) -> None:
        """A local path needs nothing made ready."""

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
