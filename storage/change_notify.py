"""The NOTIFY that tells every process's live feed a user's tasks changed (PostgreSQL).

It is sent after the write commits, from the process that wrote, never inside the write: a
transaction that notifies takes a lock that PostgreSQL holds until its commit ends, so notifying
writes would commit one at a time. One statement names each user with changes once, with the
newest `seq` of theirs: at once when none was sent in the last `BATCH_S`, else when that much
time has passed (writes in between share it, so a busy process sends at most 1/BATCH_S a
second). The feed reads the changes themselves from the log, so a notification lost (the process
killed between its commit and this) only delays them until the feed's next look at the log
(storage.change_feed).

On SQLite there is nothing to send: the feed polls the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

import sqlalchemy as sa
from sqlalchemy.types import ARRAY

from storage.database import Database
from storage.errors import StorageError

log = logging.getLogger(__name__)

CHANNEL = "todo_changes"
BATCH_S = 0.05

_NOTIFY = sa.text(
    """
    SELECT pg_notify(:channel, COALESCE(
        (SELECT MAX(seq) FROM change WHERE user_id = u), 0)::text || ' ' || u)
    FROM unnest(:users) AS u
    """
).bindparams(sa.bindparam("users", type_=ARRAY(sa.Text())))


class ChangeNotifier:
    """One per database (and so per process): `changed(user)` after each committed write."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._users: set[str] = set()
        self._sending: asyncio.Task[None] | None = None
        self._last_sent = float("-inf")  # loop time
        self.enabled = not db.is_sqlite  # bench/live.py turns it off to measure without it
        db.before_dispose(self.flush)

    def changed(self, user_id: str) -> None:
        if not self.enabled:
            return
        self._users.add(user_id)
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._send())

    async def flush(self) -> None:
        """Send what is waiting now (before the pool closes)."""
        if self._sending is not None and not self._sending.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._sending

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while self._users:
            wait_s = self._last_sent + BATCH_S - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._last_sent = loop.time()
            users, self._users = sorted(self._users), set()
            try:
                async with self._db.autocommit() as conn:
                    await conn.execute(_NOTIFY, {"channel": CHANNEL, "users": users})
            except StorageError as exc:
                log.warning(
                    "live changes: could not notify of %d users' changes (%s)",
                    len(users),
                    type(exc).__name__,
                )


_notifiers: weakref.WeakKeyDictionary[Database, ChangeNotifier] = weakref.WeakKeyDictionary()


def notifier(db: Database) -> ChangeNotifier:
    """The database's notifier (made on first use)."""
    found = _notifiers.get(db)
    if found is None:
        found = _notifiers[db] = ChangeNotifier(db)
    return found
