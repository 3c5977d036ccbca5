"""PostgRESTHarness, part 2: the Storage API requests storage3 sends for the Supabase file storage.

Object rows live in `storage.objects` (written as the caller, so the migration's storage policies
decide), the bytes in a temporary folder. Uploads are parsed as they stream in (python-multipart),
never held in memory; signed URLs are answered by the harness itself at the path it handed out.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import psycopg
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:
    from tests.supabase.harness import Caller, PostgRESTHarness

CHUNK = 1 << 16


def storage_error(status: int, error: str, message: str) -> httpx.Response:
    """Storage's error shape: storage3 reads `statusCode`, `error` and `message`."""
    return httpx.Response(status, json={"statusCode": str(status), "error": error, "message": message})


def not_found() -> httpx.Response:
    return storage_error(404, "not_found", "Object not found")


@dataclass(frozen=True)
class Upload:
    """One upload as received: the file part's content type, the x-upsert header, the size."""

    bucket: str
    name: str
    content_type: str | None
    upsert: str | None
    size: int


@dataclass(frozen=True)
class Signed:
    bucket: str
    name: str
    expires_in: int


class FileStream(httpx.SyncByteStream):
    """A stored file as a response body, read a chunk at a time (closed when the reader stops)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    field_name: str = ""
    value: bytearray = field(default_factory=bytearray)


class StorageEndpoints:
    def __init__(self, harness: PostgRESTHarness, root: Path) -> None:
        self.harness = harness
        self.root = root
        self.uploads: list[Upload] = []
        self.signed: list[Signed] = []
        self._tokens: dict[str, tuple[str, str, float]] = {}
        self._types: dict[tuple[str, str], str] = {}

    def path(self, bucket: str, name: str) -> Path:
        parts = name.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"bad object name {name!r}")
        return self.root / bucket / name

    def handle(self, request: httpx.Request, route: str) -> httpx.Response:
        head, _, rest = route.partition("/")
        if head != "object":
            return storage_error(400, "InvalidRequest", f"PostgRESTHarness does not answer {route}")
        kind, _, remainder = rest.partition("/")
        if kind == "sign" and request.method == "GET":  # a signed URL: the token is the credential
            bucket, _, name = remainder.partition("/")
            return self._signed_download(bucket, name, request.url.params.get("token", ""))
        caller = self.harness.caller(request)
        if isinstance(caller, httpx.Response):
            return caller
        try:
            if kind == "sign" and request.method == "POST":
                bucket, _, name = remainder.partition("/")
                if not name:  # create_signed_urls: many paths in one request
                    return self._sign_many(caller, bucket, json.loads(request.read()))
                return self._sign(caller, bucket, name, json.loads(request.read()))
            if kind == "info" and request.method == "GET":
                bucket, _, name = remainder.partition("/")
                return self._info(caller, bucket, name)
            if request.method == "DELETE" and not remainder:
                return self._remove(caller, kind, json.loads(request.read())["prefixes"])
            if request.method == "POST" and remainder:
                return self._upload(caller, kind, remainder, request)
        except psycopg.Error as error:
            if error.sqlstate == "42501":
                return storage_error(403, "Unauthorized", "new row violates row-level security policy")
            raise
        return storage_error(
            400, "InvalidRequest", f"PostgRESTHarness does not answer {request.method} {route}"
        )

    def _row(self, conn: psycopg.Connection, bucket: str, name: str) -> Any:
        return conn.execute(
            "SELECT id, name, bucket_id, owner, created_at FROM storage.objects"
            " WHERE bucket_id = %s AND name = %s",
            [bucket, name],
        ).fetchone()

    def _upload(self, caller: Caller, bucket: str, name: str, request: httpx.Request) -> httpx.Response:
        target = self.path(bucket, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data":
            return storage_error(400, "InvalidRequest", "PostgRESTHarness takes multipart uploads only")
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                file_part, size = self._receive(request, options[b"boundary"], out)
            upsert = request.headers.get("x-upsert")
            with self.harness.as_caller(caller) as conn:
                existing = self._row(conn, bucket, name)
                if existing is not None and upsert != "true":
                    return storage_error(409, "Duplicate", "The resource already exists")
                if existing is not None:
                    changed = conn.execute(
                        "UPDATE storage.objects SET owner = auth.uid() WHERE id = %s", [existing[0]]
                    ).rowcount
                    if not changed:
                        return storage_error(
                            403, "Unauthorized", "new row violates row-level security policy"
                        )
                    object_id = existing[0]
                else:
                    object_id = conn.execute(
                        "INSERT INTO storage.objects (bucket_id, name, owner)"
                        " VALUES (%s, %s, auth.uid()) RETURNING id",
                        [bucket, name],
                    ).fetchone()[0]
                os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
        content_type_of_file = file_part.headers.get("content-type")
        self._types[(bucket, name)] = content_type_of_file or "application/octet-stream"
        self.uploads.append(Upload(bucket, name, content_type_of_file, upsert, size))
        return httpx.Response(200, json={"Key": f"{bucket}/{name}", "Id": str(object_id)})

    @staticmethod
    def _receive(request: httpx.Request, boundary: bytes, out: Any) -> tuple[_Part, int]:
        """Parse the multipart body as it streams in; the `file` part goes straight to `out`."""
        parts: list[_Part] = []
        header: list[bytes] = [b"", b""]
        size = 0

        def on_part_begin() -> None:
            parts.append(_Part())

        def on_header_field(data: bytes, start: int, end: int) -> None:
            header[0] += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            header[1] += data[start:end]

        def on_header_end() -> None:
            parts[-1].headers[header[0].decode().lower()] = header[1].decode()
            header[:] = [b"", b""]

        def on_headers_finished() -> None:
            _, disposition = parse_options_header(parts[-1].headers.get("content-disposition", ""))
            parts[-1].field_name = disposition.get(b"name", b"").decode()

        def on_part_data(data: bytes, start: int, end: int) -> None:
            nonlocal size
            if parts[-1].field_name == "file":
                out.write(data[start:end])
                size += end - start
            else:
                parts[-1].value += data[start:end]

        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
            },
        )
        for chunk in request.stream:  # type: ignore[union-attr]
            parser.write(chunk)
        parser.finalize()
        file_part = next((part for part in parts if part.field_name == "file"), None)
        if file_part is None:
            raise ValueError("an upload without a `file` part")
        return file_part, size

    def _info(self, caller: Caller, bucket: str, name: str) -> httpx.Response:
        with self.harness.as_caller(caller) as conn:
            row = self._row(conn, bucket, name)
        if row is None:
            return not_found()
        return httpx.Response(200, json={"id": str(row[0]), "name": row[1], "bucket_id": row[2]})

    def _sign(self, caller: Caller, bucket: str, name: str, body: dict[str, Any]) -> httpx.Response:
        signed = self._signed_path(caller, bucket, name, int(body["expiresIn"]))
        return httpx.Response(200, json={"signedURL": signed}) if signed else not_found()

    def _sign_many(self, caller: Caller, bucket: str, body: dict[str, Any]) -> httpx.Response:
        """Storage's answer: one item per path, with an error (and no URL) where there is no object."""
        items = []
        for name in body["paths"]:
            signed = self._signed_path(caller, bucket, name, int(body["expiresIn"]))
            error = None if signed else "Either the object does not exist or you do not have access to it"
            items.append({"error": error, "path": name, "signedURL": signed})
        return httpx.Response(200, json=items)

    def _signed_path(self, caller: Caller, bucket: str, name: str, expires_in: int) -> str | None:
        """A signed path for an object the caller may read, or None."""
        with self.harness.as_caller(caller) as conn:
            row = self._row(conn, bucket, name)
        if row is None:
            return None
        token = secrets.token_urlsafe(16)
        self._tokens[token] = (bucket, name, time.time() + expires_in)
        self.signed.append(Signed(bucket, name, expires_in))
        return f"/object/sign/{bucket}/{quote(name)}?token={token}"

    def _signed_download(self, bucket: str, name: str, token: str) -> httpx.Response:
        granted = self._tokens.get(token)
        if granted is None or granted[:2] != (bucket, name):
            return storage_error(400, "InvalidSignature", "The signature does not match")
        if granted[2] < time.time():
            return storage_error(400, "InvalidJWT", "jwt expired")
        path = self.path(bucket, name)
        if not path.is_file():
            return not_found()
        content_type = self._types.get((bucket, name), "application/octet-stream")
        headers = {"content-type": content_type, "content-length": str(path.stat().st_size)}
        return httpx.Response(200, headers=headers, stream=FileStream(path))

    def _remove(self, caller: Caller, bucket: str, names: list[str]) -> httpx.Response:
        with self.harness.as_caller(caller) as conn:
            removed = conn.execute(
                "DELETE FROM storage.objects WHERE bucket_id = %s AND name = ANY(%s::text[]) RETURNING name",
                [bucket, names],
            ).fetchall()
        for (name,) in removed:
            self.path(bucket, name).unlink(missing_ok=True)
        return httpx.Response(200, json=[{"name": name, "bucket_id": bucket} for (name,) in removed])
