"""The change log: every task write appends its change in the write's own transaction; delta
sync and live events read it back.

Ordering. `seq` comes from one counter row (`change_head`) that each write updates in its
transaction. The row lock is held until that transaction commits, so writes commit in `seq`
order: once a reader sees change N, every change below N has committed or never will (a
rolled-back write gives its number back, so numbers are dense). A plain sequence would not do:
on PostgreSQL two writers can take 10 and 11 and commit 11 first, and a reader that saw 11
would skip 10 forever. The price is that writes of the whole server take the row one after
another for the last moments of their transaction (see bench/README.md). SQLite serialises
writers anyway.

On PostgreSQL the same statement sends `NOTIFY todo_changes, '<seq> <user>'`, delivered at
commit, which the live feed of every process listens to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.change_tables import Change, ChangeHead
from storage.database import Database
from storage.errors import StorageError
from storage.models import TaskPublic
from storage.types import utcnow

CHANNEL = "todo_changes"
Op = Literal["created", "updated", "deleted"]
PRUNE_BATCH = 1000

_change: sa.Table = Change.__table__  # type: ignore[attr-defined]
_head: sa.Table = ChangeHead.__table__  # type: ignore[attr-defined]

_NEXT_SEQ = (
    sa.update(_head).where(_head.c.id == 1).values(seq=_head.c.seq + 1).returning(_head.c.seq)
)
_INSERT = sa.insert(_change)
_HEAD = sa.select(_head.c.seq).where(_head.c.id == 1)
_OLDEST = sa.select(sa.func.min(_change.c.seq))
_COLUMNS = (
    _change.c.seq,
    _change.c.op,
    _change.c.task_id,
    _change.c.version,
    _change.c.task,
    _change.c.at,
)
_OF_USER_SINCE = (
    sa.select(*_COLUMNS)
    .where(_change.c.user_id == sa.bindparam("of_user"), _change.c.seq > sa.bindparam("since"))
    .order_by(_change.c.seq)
    .limit(sa.bindparam("page", type_=sa.Integer()))
)
_USERS_SINCE = (
    sa.select(_change.c.seq, _change.c.user_id)
    .where(_change.c.seq > sa.bindparam("since"))
    .order_by(_change.c.seq)
    .limit(sa.bindparam("page", type_=sa.Integer()))
)
_OLDEST_BATCH = (
    sa.select(_change.c.seq, _change.c.at)
    .order_by(_change.c.seq)
    .limit(sa.bindparam("page", type_=sa.Integer()))
)
_PRUNE = sa.delete(_change).where(_change.c.seq <= sa.bindparam("through"))


@functools.cache
def _append_and_notify() -> sa.Select[Any]:
    """PostgreSQL: take the next seq, append the change and notify, as one statement."""
    head = _NEXT_SEQ.cte("head")
    appended = (
        sa.insert(_change)
        .from_select(
            ["seq", "user_id", "op", "task_id", "version", "task", "at"],
            sa.select(
                head.c.seq,
                sa.bindparam("user_id", type_=_change.c.user_id.type),
                sa.bindparam("op", type_=_change.c.op.type),
                sa.bindparam("task_id", type_=sa.Integer()),
                sa.bindparam("version", type_=sa.Integer()),
                sa.bindparam("task", type_=_change.c.task.type),
                sa.bindparam("at", type_=_change.c.at.type),
            ),
        )
        .returning(_change.c.seq, _change.c.user_id)
        .cte("appended")
    )
    payload = sa.cast(appended.c.seq, sa.Text()) + " " + appended.c.user_id
    return sa.select(appended.c.seq, sa.func.pg_notify(CHANNEL, payload)).add_cte(head)


async def record(conn: AsyncConnection, user_id: str, op: Op, task: TaskPublic) -> int:
    """Append the change of one task write to the log, in the caller's transaction (which
    must be one: the counter row stays locked until it ends). Returns its `seq`.

    Every task write calls this once, after the write and only if it changed something.
    """
    values: dict[str, Any] = {
        "user_id": user_id,
        "op": op,
        "task_id": task.id,
        "version": task.version,
        "task": None if op == "deleted" else task.model_dump(mode="json"),
        "at": utcnow(),
    }
    if conn.dialect.name == "postgresql":
        seq: int = (await conn.execute(_append_and_notify(), values)).scalar_one()
        return seq
    seq = (await conn.execute(_NEXT_SEQ)).scalar_one()
    await conn.execute(_INSERT, {**values, "seq": seq})
    return seq


@dataclass(frozen=True)
class ChangeRecord:
    seq: int
    op: Op
    task_id: int
    version: int
    task: dict[str, Any] | None  # TaskPublic as JSON, with its version
    at: datetime


@dataclass(frozen=True)
class ChangePage:
    changes: list[ChangeRecord]
    next: int
    more: bool


class ChangeExpiredError(StorageError):
    """Changes after the given seq were pruned: the client must list again."""

    def __init__(self, since: int, oldest: int) -> None:
        super().__init__(f"changes after {since} are no longer kept (the oldest kept is {oldest})")
        self.since = since
        self.oldest = oldest


class ChangeNotIssuedError(StorageError):
    """The given seq is beyond every change issued so far."""

    def __init__(self, since: int, head: int) -> None:
        super().__init__(f"no change {since} was issued (the last is {head})")
        self.since = since
        self.head = head


class ChangeLog:
    """Reads of the change log, and its pruning."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def head(self) -> int:
        """The last seq issued: changes up to it have all committed."""
        async with self._db.autocommit() as conn:
            seq: int = (await conn.execute(_HEAD)).scalar_one()
            return seq

    async def since(self, user_id: str, since: int, limit: int) -> ChangePage:
        """The user's changes after `since`, oldest first, at most `limit`."""
        async with self._db.autocommit() as conn:
            # The head is read first: everything up to it has committed, so the changes read
            # after it are complete up to it, and `next` may move up to it.
            head: int = (await conn.execute(_HEAD)).scalar_one()
            if since > head:
                raise ChangeNotIssuedError(since, head)
            if since < head:
                oldest = (await conn.execute(_OLDEST)).scalar_one_or_none()
                # Numbers are dense: a gap below the oldest kept was pruned. An empty log
                # after changes were issued was pruned entirely.
                kept_from = head + 1 if oldest is None else oldest
                if since + 1 < kept_from:
                    raise ChangeExpiredError(since, kept_from)
            parameters = {"of_user": user_id, "since": since, "page": limit + 1}
            rows = (await conn.execute(_OF_USER_SINCE, parameters)).all()
        more = len(rows) > limit
        changes = [_record(row) for row in rows[:limit]]
        if more:
            return ChangePage(changes, changes[-1].seq, True)
        last = changes[-1].seq if changes else since
        return ChangePage(changes, max(last, head), False)

    async def users_since(self, since: int, limit: int = 1000) -> list[tuple[int, str]]:
        """(seq, user) of every user's changes after `since`: what the live feed wakes."""
        async with self._db.autocommit() as conn:
            rows = await conn.execute(_USERS_SINCE, {"since": since, "page": limit})
            return [(seq, user) for seq, user in rows]

    async def prune(self, retention: timedelta, *, batch: int = PRUNE_BATCH) -> int:
        """Delete changes older than `retention`, oldest first, in small transactions that
        never touch the counter row (so writers never wait on them). Returns how many."""
        cutoff = self._clock() - retention
        pruned = 0
        while True:
            async with self._db.autocommit() as conn:
                rows = (await conn.execute(_OLDEST_BATCH, {"page": batch})).all()
                old = [seq for seq, at in rows if at < cutoff]
                if not old:
                    return pruned
                # Deleted by range up to the newest old one: seqs only grow with time.
                await conn.execute(_PRUNE, {"through": old[-1]})
            pruned += len(old)
            if len(old) < len(rows) or len(rows) < batch:
                return pruned


def _record(row: Any) -> ChangeRecord:
    seq, op, task_id, version, task, at = row
    return ChangeRecord(seq, op, task_id, version, task, at)
