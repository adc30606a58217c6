"""JSON-RPC bodies of `POST /mcp` screened before the MCP transport reads them.

The transport takes a request whose id is `1.5` or `null` for a notification and answers 202
with nothing, so the client waits for an answer that never comes. Screened here
(`mcp_server.envelopes`), such a body is answered 400 with the JSON-RPC error that says why.
"""

from __future__ import annotations

import json

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from mcp_server.envelopes import screen


async def screened(scope: Scope, receive: Receive, send: Send) -> Receive | None:
    """A `receive` that gives the transport the body again, or None when the body was refused
    (and answered) here. Only POSTs carry JSON-RPC; other methods pass untouched."""
    if scope["method"] != "POST":
        return receive
    chunks: list[bytes] = []
    first: Message | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            first = message  # the client left; the transport sees it as it would have
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    rejection = screen(body) if first is None else None
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
            if first is not None:
                return first
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
