"""The transport under the shared httpx.Client in these tests, and a record of what went through it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class StreamingMockTransport(httpx.MockTransport):
    """`httpx.MockTransport` reads every request body into memory before calling the handler; this
    one passes the request on as sent, so an upload reaches the handler as the client's stream (and a
    test can see that it was one)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.handler(request)  # type: ignore[return-value]


@dataclass(frozen=True)
class Seen:
    """One request as it arrived. `streamed`: its body was a stream, not bytes (then `body` is None)."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    streamed: bool
    body: bytes | None

    @classmethod
    def of(cls, request: httpx.Request) -> Seen:
        try:
            body: bytes | None = request.content
            streamed = False
        except httpx.RequestNotRead:  # a stream nobody has read yet
            body, streamed = None, True
        headers = {name.lower(): value for name, value in request.headers.items()}
        return cls(
            request.method, request.url.path, list(request.url.params.multi_items()), headers, streamed, body
        )
