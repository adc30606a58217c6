"""The live change feed of one process: which open streams a committed change must wake.

The feed never carries changes itself: it wakes the streams of a user, and each stream reads
what it has not sent from the change log (so a wake-up lost or doubled costs nothing but a
query). How it learns of changes:

- PostgreSQL: `LISTEN todo_changes` on one dedicated connection (the writing process sends
  `NOTIFY` `<seq> <user>` after each commit, storage.change_notify), and a look at the log
  every LISTEN_CHECK_S while streams are open, for a NOTIFY that never came. A transaction-mode
  pooler cannot hold a `LISTEN`, so behind one it takes
  `DATABASE_LISTEN_URL` (a direct or session-mode URL); without one it polls the log's head
  each second. A lost connection is opened again (with backoff), then every stream catches
  up from the log.
- SQLite: another process on the same file (a `todo-mcp`) cannot signal, so the head of the
  log is polled, a one-row read, only while streams are open.

It also prunes the log: at start, then hourly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any, Literal

from storage.change_notify import CHANNEL
from storage.changes import ChangeLog
from storage.database import Database, resolve_url
from storage.errors import StorageError

log = logging.getLogger(__name__)

PG_POLL_S = 1.0
SQLITE_POLL_S = 0.25
PRUNE_EVERY_S = 3600.0
# A LISTEN connection is checked this often (a peer that vanished silently sends no FIN).
LISTEN_CHECK_S = 5.0
_RECONNECT_MAX_S = 5.0
LISTENER_NAME = "todo-mcp change feed"

Mode = Literal["listen", "poll"]


class Subscription:
    """One open stream: woken whenever its user may have new changes."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.wake = asyncio.Event()


class ChangeFeed:
    def __init__(
        self,
        db: Database,
        changes: ChangeLog,
        *,
        listen_url: str | None,
        retention: timedelta,
        poll_s: float | None = None,
    ) -> None:
        self._db = db
        self._changes = changes
        self._retention = retention
        self._streams: dict[str, set[Subscription]] = defaultdict(set)
        self._open = asyncio.Event()  # set while any stream is open
        self._tasks: list[asyncio.Task[None]] = []
        self._cursor: int | None = None  # the head at the last look at the log
        self._listen_dsn: tuple[str, dict[str, Any]] | None = None
        if db.is_sqlite:
            self.mode: Mode = "poll"
        elif listen_url is not None:
            self.mode = "listen"
            self._listen_dsn = _asyncpg_dsn(listen_url)
        elif db.behind_pooler:
            self.mode = "poll"
        else:
            self.mode = "listen"
            self._listen_dsn = _asyncpg_dsn(db.url.render_as_string(hide_password=False))
        default_poll = SQLITE_POLL_S if db.is_sqlite else PG_POLL_S
        self._poll_s = default_poll if poll_s is None else poll_s

    # --- streams --------------------------------------------------------------------------

    def open_streams(self, user_id: str) -> int:
        return len(self._streams.get(user_id, ()))

    def subscribe(self, user_id: str) -> Subscription:
        subscription = Subscription(user_id)
        self._streams[user_id].add(subscription)
        self._open.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        streams = self._streams.get(subscription.user_id)
        if streams is not None:
            streams.discard(subscription)
            if not streams:
                del self._streams[subscription.user_id]
        if not self._streams:
            self._open.clear()

    def _wake(self, user_id: str) -> None:
        for subscription in self._streams.get(user_id, ()):
            subscription.wake.set()

    def _wake_all(self) -> None:
        for streams in self._streams.values():
            for subscription in streams:
                subscription.wake.set()

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        if self.mode == "listen":
            self._tasks.append(asyncio.create_task(self._listen_forever()))
        else:
            if not self._db.is_sqlite:
                log.warning(
                    "live changes: DATABASE_POOLER=transaction and no DATABASE_LISTEN_URL, "
                    "so the change log is polled every %g s instead of LISTEN/NOTIFY",
                    self._poll_s,
                )
            self._tasks.append(asyncio.create_task(self._poll_forever()))
        self._tasks.append(asyncio.create_task(self._prune_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        # Streams still open end their wait and find the feed gone with the server.
        self._wake_all()

    # --- PostgreSQL LISTEN ------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        import asyncpg

        assert self._listen_dsn is not None
        dsn, connect_args = self._listen_dsn
        delay = 0.25
        while True:
            try:
                conn = await asyncpg.connect(dsn, **connect_args)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live changes: cannot LISTEN (%s); trying again", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)
                continue
            delay = 0.25
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                log.info("live changes: listening for changes on PostgreSQL")
                # Whatever was committed while nobody listened is in the log.
                self._wake_all()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), LISTEN_CHECK_S)
                    if not lost.is_set():
                        await conn.execute("SELECT 1", timeout=LISTEN_CHECK_S)
                        if self._streams:
                            # A change whose NOTIFY never came (its process was killed
                            # between commit and sending it) still reaches its streams.
                            await self._catch_up()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live changes: the LISTEN connection failed (%s)", type(exc).__name__)
            except Exception:
                # The feed's outermost handler: streams must not go quiet for good.
                log.exception("live changes: the LISTEN loop failed")
                delay = _RECONNECT_MAX_S
            finally:
                conn.terminate()
            log.warning("live changes: the LISTEN connection was lost; reconnecting")
            await asyncio.sleep(delay)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        _seq, _, user_id = payload.partition(" ")
        self._wake(user_id)

    # --- polling ----------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            await self._open.wait()
            await self._catch_up()
            await asyncio.sleep(self._poll_s)

    async def _catch_up(self) -> None:
        """Wake the streams of every user with changes since the last look (the settled head
        then), or, at the first look, every stream."""
        try:
            head = await self._changes.head()
            if self._cursor is None:
                # Polling: streams opened while nobody looked read the log up to about now
                # themselves; waking them closes the gap to this head. Listening: the NOTIFYs
                # (and the wake of every stream when LISTEN began) did.
                if self.mode == "poll":
                    self._wake_all()
                self._cursor = head
            while head > self._cursor:
                moved = await self._changes.users_since(self._cursor, head)
                for user_id in {user for _seq, user in moved}:
                    self._wake(user_id)
                self._cursor = moved[-1][0] if moved else head
        except StorageError:
            pass  # the database is away: the next look tries again
        except Exception:
            log.exception("live changes: reading the change log's head failed")
        if not self._streams:
            self._cursor = None

    # --- pruning ----------------------------------------------------------------------------

    async def _prune_forever(self) -> None:
        while True:
            try:
                pruned = await self._changes.prune(self._retention)
                if pruned:
                    log.info("live changes: pruned %d changes older than the retention", pruned)
            except StorageError:
                log.warning("live changes: pruning the change log failed; trying again later")
            except Exception:
                log.exception("live changes: pruning the change log failed")
            await asyncio.sleep(PRUNE_EVERY_S)


def _asyncpg_dsn(raw_url: str) -> tuple[str, dict[str, Any]]:
    """A URL for asyncpg itself, and its connect arguments (TLS, timeout) as the pool has them."""
    url, connect_args = resolve_url(raw_url)
    # The pool's own query parameters mean nothing to a plain connection.
    plain = url.set(drivername="postgresql", query={})
    # Named, so that an operator can tell it from the pool's connections.
    settings = {"application_name": LISTENER_NAME, **connect_args.get("server_settings", {})}
    return plain.render_as_string(hide_password=False), {
        **connect_args,
        "server_settings": settings,
    }
