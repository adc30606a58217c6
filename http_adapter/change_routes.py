"""Delta sync and live events: `GET /api/{user_id}/changes` and `GET /api/{user_id}/events`.

Both read the change log through its repository (`storage.changes.ChangeLog`), never task rows:
a change carries the task as it was written. The events stream is woken by the process's
change feed (`storage.change_feed`) and reads what it has not sent from the log.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime
from typing import Any

import anyio
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from http_adapter import route_table
from http_adapter.change_models import DEFAULT_LIMIT, MAX_LIMIT
from http_adapter.context import AppContext
from http_adapter.endpoints import Handler
from http_adapter.operations import Operation
from http_adapter.problems import HTTPProblem
from http_adapter.shutdown import Shutdown
from http_adapter.sse_response import SseResponse
from storage.change_feed import ChangeFeed, Subscription
from storage.changes import (
    ChangeExpiredError,
    ChangeLog,
    ChangeNotIssuedError,
    ChangePage,
    ChangeRecord,
)
from storage.errors import StorageError, StorageUnavailableError

log = logging.getLogger(__name__)


# Changes a stream reads from the log at a time.
STREAM_PAGE = 200
STREAM_RETRY_AFTER_S = 5
# How soon a stream reads again when a write still open held its last read back.
BEHIND_RETRY_S = 0.25
LIST_HEAD_MAX_AGE_S = 1.0
_MAX_SEQ_DIGITS = 18  # a BIGINT; longer is no seq and never converted
_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def change_handlers(
    ctx: AppContext, changes: ChangeLog, feed: ChangeFeed
) -> dict[Operation, Handler]:
    """The handlers of delta sync and the event stream, bound to their operations."""

    async def list_changes(request: Request) -> Response:
        user = await ctx.authorize(request)
        since = _seq(request.query_params.get("since"), "since", required=True)
        limit = _limit(request.query_params.get("limit"))
        page = await _read(changes, user, since, limit)
        return JSONResponse(
            {
                "changes": [change_json(c) for c in page.changes],
                "next": page.next,
                "more": page.more,
            }
        )

    async def events(request: Request) -> Response:
        principal = await ctx.authenticate(request)
        if request.path_params.get("user_id") != principal.user_id:
            raise HTTPProblem(403, "The token does not belong to this user.")
        user = principal.user_id
        # A reconnecting EventSource (or a fetch that does as one) sends its last id.
        last_id = request.headers.get("last-event-id")
        if last_id is not None and last_id.strip():
            since: int | None = _seq(last_id, "Last-Event-ID", where="header")
        else:
            since = _seq(request.query_params.get("since"), "since", required=False)
        if feed.open_streams(user) >= ctx.settings.events_max_streams:
            raise HTTPProblem(
                429,
                f"At most {ctx.settings.events_max_streams} event streams a user at once; "
                "close one first.",
                headers={"Retry-After": str(STREAM_RETRY_AFTER_S)},
            )
        # Subscribed before the first read: a change committed in between still wakes it.
        subscription = feed.subscribe(user)
        try:
            if since is None:
                since = await _head(changes)
                first = ChangePage([], since, False)
            else:
                first = await _read(changes, user, since, STREAM_PAGE)
        except BaseException:
            feed.unsubscribe(subscription)
            raise
        return EventStream(
            changes=changes,
            feed=feed,
            subscription=subscription,
            first=first,
            keepalive_s=ctx.settings.events_keepalive_s,
            expires_at=principal.expires_at,
            shutdown=ctx.shutdown,
        )

    return {route_table.LIST_CHANGES: list_changes, route_table.STREAM_CHANGES: events}


class EventStream(SseResponse):
    """A user's changes as Server-Sent Events: what was missed first, then each as it
    commits. Ends when the token expires, the client leaves, or the server shuts down; the
    keep-alive comments and the watch on the client are `SseResponse`'s."""

    def __init__(
        self,
        *,
        changes: ChangeLog,
        feed: ChangeFeed,
        subscription: Subscription,
        first: ChangePage,
        keepalive_s: float,
        expires_at: int,
        shutdown: Shutdown,
    ) -> None:
        super().__init__(keepalive_s)
        self.changes = changes
        self.feed = feed
        self.subscription = subscription
        self.first = first
        self.expires_at = expires_at
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except OSError:
            pass  # the client left (ASGI 2.4 servers may say so when sending)
        finally:
            self.feed.unsubscribe(self.subscription)

    def on_client_left(self, answer: anyio.CancelScope) -> None:
        answer.cancel()

    async def stream(self) -> None:
        with anyio.move_on_after(max(0.0, self.expires_at - time.time())) as lifetime:
            self.tasks.start_soon(self._end_on_shutdown, lifetime)
            await self._changes_as_they_come()

    async def _changes_as_they_come(self) -> None:
        wake = self.subscription.wake
        cursor = self.first.next
        # At once, so that a client (and any proxy) sees the stream open and subscribed.
        await self.write(b": open\n\n")
        await self._send_changes(self.first.changes)
        more = self.first.more
        # When to read again unwoken: soon after a write still open held the read back,
        # a while after the database was away (the feed also wakes every stream once it is
        # back), else only when woken.
        again_s = BEHIND_RETRY_S if self.first.behind else math.inf
        while True:
            if not more:
                with anyio.move_on_after(again_s):
                    await wake.wait()
            wake.clear()  # before the read: a change committed during it wakes us again
            try:
                page = await self.changes.since(self.subscription.user_id, cursor, STREAM_PAGE)
            except ChangeExpiredError:
                return  # fell behind the retention while open: the client must list again
            except StorageError:
                more, again_s = False, self.keepalive_s
                continue
            await self._send_changes(page.changes)
            cursor, more = page.next, page.more
            again_s = BEHIND_RETRY_S if page.behind else math.inf

    async def _send_changes(self, changes: list[ChangeRecord]) -> None:
        if changes:
            await self.write(b"".join(_event(change) for change in changes))

    async def _end_on_shutdown(self, scope: anyio.CancelScope) -> None:
        await self.shutdown.wait_begun()
        scope.cancel()


def change_json(change: ChangeRecord) -> dict[str, Any]:
    """A change as clients get it: the task as REST serves it (without its version, which is
    the change's own `version`)."""
    task = None
    if change.task is not None:
        task = {key: value for key, value in change.task.items() if key != "version"}
    return {
        "seq": change.seq,
        "op": change.op,
        "task_id": change.task_id,
        "version": change.version,
        "task": task,
        "at": _TIME.dump_python(change.at, mode="json"),
    }


def _event(change: ChangeRecord) -> bytes:
    data = json.dumps(change_json(change), separators=(",", ":"))
    return f"event: change\nid: {change.seq}\ndata: {data}\n\n".encode()


async def _read(changes: ChangeLog, user: str, since: int, limit: int) -> ChangePage:
    try:
        return await changes.since(user, since, limit)
    except ChangeExpiredError:
        raise HTTPProblem(
            410,
            "Changes after this seq are no longer kept: list the tasks again and sync from "
            "their X-Changes-Next.",
        ) from None
    except ChangeNotIssuedError as exc:
        raise HTTPProblem(
            422,
            f"No change {exc.since} was issued yet (the last is {exc.head}).",
            errors=[{"loc": ["query", "since"], "msg": "beyond the last change issued"}],
        ) from None
    except StorageUnavailableError:
        raise HTTPProblem(503, "The database is unavailable right now.") from None


async def changes_head(ctx: AppContext) -> dict[str, str]:
    """The `X-Changes-Next` header of a task list: the log's settled head, read before the
    list. One read in the last second will do (shared by the lists of that second): a client
    syncing from an older head sees a change twice, never misses one."""
    if ctx.changes is None:
        return {}
    return {"X-Changes-Next": str(await _head(ctx.changes, max_age_s=LIST_HEAD_MAX_AGE_S))}


async def _head(changes: ChangeLog, *, max_age_s: float = 0.0) -> int:
    try:
        return await changes.head(max_age_s=max_age_s)
    except StorageUnavailableError:
        raise HTTPProblem(503, "The database is unavailable right now.") from None


def _seq(raw: str | None, name: str, *, required: bool = False, where: str = "query") -> Any:
    if raw is None:
        if required:
            raise HTTPProblem(
                422,
                f"`{name}` is required: 0 for everything kept, else the last `next`.",
                errors=[{"loc": [where, name], "msg": "missing"}],
            )
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_SEQ_DIGITS:
        raise HTTPProblem(
            422,
            f"`{name}` must be a change's seq (a whole number from 0).",
            errors=[{"loc": [where, name], "msg": "not a seq"}],
        )
    return int(text)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) <= 4 and 1 <= int(text) <= MAX_LIMIT:
        return int(text)
    raise HTTPProblem(
        422,
        f"`limit` must be a whole number from 1 to {MAX_LIMIT}.",
        errors=[{"loc": ["query", "limit"], "msg": f"from 1 to {MAX_LIMIT}"}],
    )
