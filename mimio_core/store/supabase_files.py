"""Files in a private Supabase Storage bucket (the `videos` bucket of the migrations).

The record keeps the object path (`<user_id>/<video_id>.mp4`); players and downloads get short-lived
signed URLs, never a public link.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase import Client

from mimio_core.store.base import FileStorage, StorageRefused
from mimio_core.store.supabase import SupabaseError

DOWNLOAD_URL_SECONDS = 60  # a signed URL for reading a file at once needs to live only briefly


class SupabaseFileStorage(FileStorage):
    """Files in a private Storage bucket, keyed by object path; readers get signed URLs."""

    def __init__(
        self,
        client: Client,
        bucket: str = "videos",
        signed_url_seconds: int = 3600,
        before_request: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._before_request = before_request  # as SupabaseStore's: a token refreshed near expiry
        self.bucket = bucket
        self.signed_url_seconds = signed_url_seconds
        # the client's own httpx.Client when it has one: one pool, one set of timeouts
        self._handed_out: dict[str, tuple[str, float]] = {}  # key -> (signed URL, when it expires)
        self._http = client.options.httpx_client or httpx.Client(timeout=httpx.Timeout(30, connect=10))

    def _files(self) -> Any:
        # never cached: a sign-in or a refresh replaces the storage client (and its Authorization header)
        if self._before_request is not None:
            self._before_request()
        return self._client.storage.from_(self.bucket)

    def _call(self, what: str, key: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except StorageApiError as error:
            if str(error.status) == "404" or error.code in ("not_found", "NoSuchKey"):
                raise FileNotFoundError(f"No stored file {key!r} in bucket {self.bucket!r}.") from error
            if str(error.status) == "413" or error.code in ("EntityTooLarge", "Payload too large"):
                raise StorageRefused(
                    f"Supabase Storage refused {key!r} as too large ({error.message}): raise the file size "
                    "limit of the bucket or the project (Supabase Free allows 50 MB)."
                ) from error
            raise SupabaseError(f"Could not {what} {key!r}: {error.message} [{error.status}]") from error
        except (StorageException, httpx.HTTPError) as error:
            raise SupabaseError(f"Could not {what} {key!r}: {error}") from error

    def put_file(self, key: str, source: Path, content_type: str) -> None:
        """Uploads from the path: storage3 opens it and httpx streams it (a 300 MB video costs ~1 MB)."""
        options = {"content-type": content_type, "upsert": "true"}  # upsert: a string, a bool raises
        self._call("upload", key, lambda: self._files().upload(key, source, options))

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        options = {"content-type": content_type, "upsert": "true"}
        self._call("upload", key, lambda: self._files().upload(key, data, options))

    def exists(self, key: str) -> bool:
        return bool(self._call("look up", key, lambda: self._files().exists(key)))

    def _signed_url(self, key: str, seconds: int) -> str:
        signed = self._call("sign a URL for", key, lambda: self._files().create_signed_url(key, seconds))
        return str(signed["signedURL"])

    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Streams through a signed URL: storage3's `download()` would buffer the whole file."""
        url = self._signed_url(key, min(DOWNLOAD_URL_SECONDS, self.signed_url_seconds))
        try:
            with self._http.stream("GET", url) as response:
                if response.is_error:
                    raise self._read_failure(key, response)
                yield from response.iter_bytes(chunk_size)
        except httpx.HTTPError as error:
            raise SupabaseError(f"Could not read {key!r}: {error}") from error

    def _read_failure(self, key: str, response: httpx.Response) -> Exception:
        """Storage answers a missing object with 404, or 400 and `"statusCode": "404"` in the body."""
        response.read()  # an error body is small
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code == 404 or str(body.get("statusCode")) == "404":
            return FileNotFoundError(f"No stored file {key!r} in bucket {self.bucket!r}.")
        reason = body.get("message") or response.text[:200] or response.reason_phrase
        return SupabaseError(f"Could not read {key!r}: {reason} [{response.status_code}]")

    def media_source(self, key: str) -> str:
        """A signed URL a browser can play for `signed_url_seconds`; never stored in a record (it
        expires). The same URL is handed out again while more than half its life is left: a player
        whose URL changed on each rerun would reload mid-play, and each new URL costs a request."""
        held = self._still_good(key)
        if held is not None:
            return held
        url = self._signed_url(key, self.signed_url_seconds)
        self._handed_out[key] = (url, time.monotonic() + self.signed_url_seconds)
        return url

    def prefetch_media_sources(self, keys: Sequence[str]) -> None:
        """Signs every key that has no good URL yet in ONE request (a page of 50 thumbnails would
        otherwise cost 50 round trips). Keys Storage does not have are left for `media_source` to
        report."""
        wanted = [key for key in dict.fromkeys(keys) if self._still_good(key) is None]
        if not wanted:
            return
        expires = time.monotonic() + self.signed_url_seconds
        signed = self._call(
            "sign URLs for",
            f"{len(wanted)} files",
            lambda: self._files().create_signed_urls(wanted, self.signed_url_seconds),
        )
        for item in signed:
            if item["signedURL"]:
                self._handed_out[item["path"]] = (item["signedURL"], expires)

    def _still_good(self, key: str) -> str | None:
        """The URL handed out for `key` while more than half its lifetime is left."""
        held = self._handed_out.get(key)
        if held is not None and held[1] - time.monotonic() > self.signed_url_seconds / 2:
            return held[0]
        return None

    def delete(self, key: str) -> None:
        """Removes the object; a key that is not there is no error (as with local files)."""
        self._handed_out.pop(key, None)
        self._call("delete", key, lambda: self._files().remove([key]))
