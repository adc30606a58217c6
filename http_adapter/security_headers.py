"""Headers every answer carries: `X-Content-Type-Options: nosniff` always, and
`Cache-Control: no-store` on whatever answers a route that takes a token (errors included), so
no shared or browser cache keeps one user's tasks or conversations."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every route under these takes a bearer token.
_PRIVATE_PREFIXES = ("/api/", "/mcp/")
_PRIVATE_PATHS = ("/mcp",)


def is_private(scope: Scope) -> bool:
    path: str = scope["path"]
    if path in _PRIVATE_PATHS or path.startswith(_PRIVATE_PREFIXES):
        return True
    return any(name == b"authorization" for name, _ in scope["headers"])


def security_headers(scope: Scope) -> dict[str, str]:
    """The headers an answer to `scope` carries."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if is_private(scope):
        headers["Cache-Control"] = "no-store"
    return headers


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


# Built once: every answer carries one of the two.
_PUBLIC = _raw({"X-Content-Type-Options": "nosniff"})
_PRIVATE = _raw({"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
_NAMES = frozenset(name for name, _ in _PRIVATE)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        extra = _PRIVATE if is_private(scope) else _PUBLIC

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Set, not added: one of these already in the answer is replaced.
                headers = message.get("headers", ())
                message["headers"] = [
                    *(header for header in headers if header[0].lower() not in _NAMES),
                    *extra,
                ]
            await send(message)

        await self._app(scope, receive, send_with_headers)
