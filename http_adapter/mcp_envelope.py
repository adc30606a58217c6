"""JSON-RPC bodies of `POST /mcp` screened before the MCP transport reads them.

The transport takes a request whose id is `1.5` or `null` for a notification and answers 202
with nothing, so the client waits for an answer that never comes. Screened here
(`mcp_server.envelopes`), such a body is answered 400 with the JSON-RPC error that says why.

A body is read here whole, so its size limit is enforced here too, before a byte is parsed:
over 4 MiB by its `Content-Length`, or by the running count of what arrived, is 413 (the
transport's own check comes after the whole body is in memory). A client that leaves mid-body
is the same `ClientDisconnect` (408) as on the REST and chat routes.
"""

from __future__ import annotations

import json

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from http_adapter.problems import PROBLEM_JSON, problem_body
from mcp_server.envelopes import screen

MAX_BODY_BYTES = 4 * 1024 * 1024
_TOO_LARGE = "The request body is larger than 4 MiB."


async def screened(scope: Scope, receive: Receive, send: Send) -> Receive | None:
    """A `receive` that gives the transport the body again, or None when the body was refused
    (and answered) here. Only POSTs carry JSON-RPC; other methods pass untouched."""
    if scope["method"] != "POST":
        return receive
    if _declared_length(scope) > MAX_BODY_BYTES:
        await _too_large(scope, receive, send)
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            await _too_large(scope, receive, send)
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    rejection = screen(body)
    if rejection is not None and rejection.answerable:
        error = {"code": rejection.code, "message": rejection.message}
        answer = Response(
            _json({"jsonrpc": "2.0", "id": rejection.id, "error": error}),
            status_code=400,
            media_type="application/json",
        )
        await answer(scope, receive, send)
        return None
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    # The rest of the body is never read, so the connection cannot carry another request.
    answer = Response(
        _json(problem_body(413, _TOO_LARGE)),
        status_code=413,
        headers={"Connection": "close"},
        media_type=PROBLEM_JSON,
    )
    await answer(scope, receive, send)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
