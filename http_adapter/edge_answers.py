"""Answers the connection layer writes itself, below the app: 400 for bytes that are no HTTP
request, 408 for a request too slow, 431 for headers too large, 503 past the concurrency
limit. They carry what every answer of the app carries: `X-Request-ID` (the client's when the
request's headers were read and it is sane) and `X-Content-Type-Options: nosniff`."""

from __future__ import annotations

import http
from collections.abc import Iterable

from starlette.types import Receive, Scope, Send

from http_adapter.middleware import request_id

Headers = list[tuple[bytes, bytes]]


def edge_headers(request_headers: Iterable[tuple[bytes, bytes]] = ()) -> Headers:
    """The headers of an answer to a request with `request_headers` (none: never read)."""
    return [
        (b"x-request-id", request_id(request_headers).encode("latin-1")),
        (b"x-content-type-options", b"nosniff"),
    ]


def edge_answer(status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A whole plain-text answer, after which the connection is closed."""
    lines = [
        b"HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase.encode()),
        b"content-type: text/plain; charset=utf-8",
        b"content-length: %d" % len(body),
        b"connection: close",
        *(name + b": " + value for name, value in headers),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def unavailable(scope: Scope, _receive: Receive, send: Send) -> None:
    """uvicorn's answer past `limit_concurrency`, with the headers of every answer."""
    body = b"Service Unavailable"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        *edge_headers(scope["headers"]),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
