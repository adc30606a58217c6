"""The edge of every request: its id, its access log line and its metrics.

`X-Request-ID` is taken from the client when it is sane (bounded, safe characters) and made up
otherwise; it is returned on every answer and held in a context variable for the request, so
that every log record made while serving it (tool calls, model calls, storage) carries it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from http_adapter.metrics import Metrics

access_log = logging.getLogger("http_adapter.access")

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and a few separators, as load balancers and tracing systems make them; any
# other value (too long, spaces, quotes, control characters) is replaced, never echoed.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UNMATCHED_ROUTE = "unmatched"
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


@dataclass
class RequestRecord:
    id: str
    user: str | None = None


_current: ContextVar[RequestRecord | None] = ContextVar("todo_mcp_request", default=None)


def current_request_id() -> str | None:
    record = _current.get()
    return record.id if record is not None else None


def note_user(user_id: str) -> None:
    """Record who the request is for; the access log shows a hash of it, never the id."""
    record = _current.get()
    if record is not None:
        record.user = user_id


def user_hash(user_id: str) -> str:
    """A short stable pseudonym: lines of one user can be found together, the id is not shown."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:12]


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        record = RequestRecord(request_id(scope["headers"]))
        # Not reset afterwards: the error handler outside this middleware still needs it, and
        # each request runs in a task (and context) of its own.
        _current.set(record)
        header = (b"x-request-id", record.id.encode("latin-1"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            user = user_hash(record.user) if record.user is not None else None
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope["method"], route, status, seconds, user)
            if self._metrics is not None:
                self._metrics.observe_request(scope["method"], route, status, seconds)


def _log_access(method: str, route: str, status: int, seconds: float, user: str | None) -> None:
    """The request's line. Made and handed to the handlers directly: `Logger.info` would first
    walk the stack to find the caller, which no format of ours shows, on every request."""
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %d %.1f ms%s",
        (method, route, status, seconds * 1000, f" user={user}" if user else ""),
        None,
        extra={
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "user": user,
        },
    )
    access_log.handle(record)


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-ID` when it is sane, otherwise a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(given):
                return given
            break
    # As random as uuid4's hex, without building a UUID object for every request.
    return secrets.token_hex(16)


def _route_template(scope: Scope) -> str:
    """The path as routed (`/api/{user_id}/tasks/{task_id}`), never the raw path: it names no
    user and keeps the number of distinct values small."""
    route: object = scope.get("route")
    path: object = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return _template(path)
    return UNMATCHED_ROUTE


@functools.lru_cache(maxsize=256)
def _template(path: str) -> str:
    """`/tasks/{task_id:int}` as `/tasks/{task_id}`: the converter is routing detail."""
    return _CONVERTER.sub(r"{\1}", path)
