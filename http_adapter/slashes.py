"""The trailing-slash redirect (`/api/alice/tasks/` → `/api/alice/tasks`), built from the path
exactly as the client sent it.

Starlette's own rebuilds the target from the decoded path, where a user id of `%2F` has become
`/` (and the redirect then leads to another path). The raw path keeps every identifier in the
percent-encoding it arrived in.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send

# What RFC 3986 lets stand in a path, plus `%` so the client's own escapes are kept as they are.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def redirecting_slashes(router: Router, base_url: Callable[[HTTPConnection], str]) -> ASGIApp:
    """The router's answer for a path no route serves: a redirect when the path with (or
    without) a trailing slash is served, else its usual 404."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] == "http" and path != "/":
            other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
            if any(route.matches(other)[0] is not Match.NONE for route in router.routes):
                target = base_url(HTTPConnection(scope)) + _other_raw_path(scope)
                await RedirectResponse(target)(scope, receive, send)
                return
        await router.not_found(scope, receive, send)

    return default


def _other_raw_path(scope: Scope) -> str:
    # Some clients' ASGI adapters put the query into raw_path too: it is taken from query_string.
    raw: bytes = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0]
    raw = raw.rstrip(b"/") if raw.endswith(b"/") else raw + b"/"
    # Bytes outside ASCII (a client that sent raw UTF-8) are escaped one by one.
    target = quote(raw, safe=_PATH_SAFE)
    query: bytes = scope.get("query_string", b"")
    if query:
        target += "?" + quote(query, safe=_QUERY_SAFE)
    return target
