"""The change log: every task write appends its change in the write's own transaction; delta
sync and live events read it back.

Writing. A trigger on `task` (migration 0008) appends the change of every row inserted, updated
or deleted, inside the write's own statement: no write path can forget it, and a write that was
one statement stays one. A write that changes nothing touches no row (the repository's UPDATE is
guarded), so it logs nothing. The trigger builds the task's JSON from its columns; `_task_json`
turns it into the task exactly as the repository returns it.

Ordering, without making writers queue. On SQLite one writer runs at a time and the trigger
counts in `change_head`: numbers commit in order, and the counter is the head. On PostgreSQL
numbers come from the sequence `change_seq`, which writers take without waiting for each
other, so they can commit out of order: 10 and 11 taken, 11 committed first. A reader that
returned 11 and moved its cursor past 10 would skip 10 forever. So a reader reads only up to a
*settled* head (`_Horizon`): it notes the last number issued, N, and which transactions were
writing tasks at that moment (from `pg_locks`: the holders of a row lock on `task`, by their
transaction id), then waits until each of them has ended. Every number up to N was taken by one
of those (a writer takes its number after its transaction has its id and its lock on `task`),
so once they have ended, every change up to N has committed (and is visible) or never will be.
Writers never wait for this, and a long write delays only the readers that meet it. Numbers
are not dense (a rolled-back write leaves a gap).

Notifying. NOTIFY inside a write would make every write of the server commit one at a time
(PostgreSQL serialises notifying commits), so the process that wrote sends it after the commit
(`storage.change_notify`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.types import ARRAY

from storage.change_tables import Change, ChangeHead
from storage.database import Database
from storage.errors import StorageError
from storage.models import TaskPublic
from storage.types import utcnow

Op = Literal["created", "updated", "deleted"]
PRUNE_BATCH = 1000

_change: sa.Table = Change.__table__  # type: ignore[attr-defined]
_head: sa.Table = ChangeHead.__table__  # type: ignore[attr-defined]

# How long a reader waits for the writes open when it read the head before it reads only as far
# as was settled before, and how often it looks meanwhile (doubling from the first).
SETTLE_WAIT_S = 0.5
SETTLE_FIRST_S = 0.001
SETTLE_STEP_MAX_S = 0.02

_HEAD = sa.select(_head.c.seq).where(_head.c.id == 1)
# What pruning noted, and the oldest change kept (the head of the primary key).
_KEPT = sa.select(
    _head.c.pruned_through, sa.select(sa.func.min(_change.c.seq)).scalar_subquery()
).where(_head.c.id == 1)
_NOTE_PRUNED = (
    sa.update(_head)
    .where(_head.c.id == 1)
    .values(
        pruned_through=sa.case(
            (_head.c.pruned_through < sa.bindparam("through"), sa.bindparam("through")),
            else_=_head.c.pruned_through,
        )
    )
)
# PostgreSQL: the last number issued, then the transaction ids of everything writing tasks in
# this database at that moment (the number is read first: the subquery depends on it).
_STAMP = sa.text(
    """
    SELECT s.issued, ARRAY(
        SELECT w.transactionid::text
        FROM pg_locks t JOIN pg_locks w ON w.virtualtransaction = t.virtualtransaction
        WHERE s.issued IS NOT NULL
          AND t.locktype = 'relation' AND t.mode = 'RowExclusiveLock'
          AND t.relation = 'task'::regclass
          AND t.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND w.locktype = 'transactionid' AND w.mode = 'ExclusiveLock'
    ) AS writing
    FROM (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS issued
          FROM change_seq OFFSET 0) AS s
    """
).columns(sa.column("issued", sa.BigInteger()), sa.column("writing", ARRAY(sa.Text())))
# Which of them are still open (a transaction holds the lock on its own id until it ends).
_STILL_WRITING = sa.text(
    """
    SELECT transactionid::text FROM pg_locks
    WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock'
      AND transactionid::text = ANY(:writing)
    """
).bindparams(sa.bindparam("writing", type_=ARRAY(sa.Text())))
_COLUMNS = (
    _change.c.seq,
    _change.c.op,
    _change.c.task_id,
    _change.c.version,
    _change.c.task,
    _change.c.at,
)
_SINCE_THROUGH = (
    _change.c.seq > sa.bindparam("since"),
    _change.c.seq <= sa.bindparam("through"),
)
_OF_USER_SINCE = (
    sa.select(*_COLUMNS)
    .where(_change.c.user_id == sa.bindparam("of_user"), *_SINCE_THROUGH)
    .order_by(_change.c.seq)
    .limit(sa.bindparam("page", type_=sa.Integer()))
)
_USERS_SINCE = (
    sa.select(_change.c.seq, _change.c.user_id)
    .where(*_SINCE_THROUGH)
    .order_by(_change.c.seq)
    .limit(sa.bindparam("page", type_=sa.Integer()))
)
_OLDEST_BATCH = (
    sa.select(_change.c.seq, _change.c.at)
    .order_by(_change.c.seq)
    .limit(sa.bindparam("page", type_=sa.Integer()))
)
_PRUNE = sa.delete(_change).where(_change.c.seq <= sa.bindparam("through"))


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
    # A write still open held the reading back: ask again shortly (nothing is lost meanwhile).
    behind: bool = False


class ChangeExpiredError(StorageError):
    """Changes after the given seq were pruned: the client must list again."""

    def __init__(self, since: int, oldest: int) -> None:
        super().__init__(f"changes after {since} are no longer kept (kept from {oldest})")
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
        self._horizon = _Horizon(db)

    async def head(self, *, max_age_s: float = 0.0) -> int:
        """The settled head: every change up to it has committed. Read after this call began,
        unless one read at most `max_age_s` ago will do (a task list's `X-Changes-Next` may
        lag: a client syncing from it sees a change twice, never misses one)."""
        return (await self._horizon.read(max_age_s)).settled

    async def since(self, user_id: str, since: int, limit: int) -> ChangePage:
        """The user's changes after `since`, oldest first, at most `limit`, up to the settled
        head read after this call began (so a client reads its own writes)."""
        horizon = await self._horizon.read()
        if since > horizon.issued:
            raise ChangeNotIssuedError(since, horizon.issued)
        through = horizon.settled
        rows: Sequence[Any] = ()
        async with self._db.autocommit() as conn:
            if since < through:
                parameters = {"of_user": user_id, "since": since, "through": through}
                rows = (await conn.execute(_OF_USER_SINCE, {**parameters, "page": limit + 1})).all()
            # After the rows: a prune between the two can only make this answer a 410.
            pruned, oldest = (await conn.execute(_KEPT)).one()
        # Kept from the oldest change there, unless what pruning noted says more (or numbers
        # left unused below the oldest, by writes rolled back, make it say less: a client
        # then lists again once, needlessly).
        kept_from = pruned + 1
        if oldest is not None and oldest <= through:
            kept_from = max(kept_from, oldest)
        if since + 1 < kept_from:
            raise ChangeExpiredError(since, kept_from)
        more = len(rows) > limit
        changes = [_record(row) for row in rows[:limit]]
        if more:
            return ChangePage(changes, changes[-1].seq, True)
        last = changes[-1].seq if changes else since
        return ChangePage(changes, max(last, through, since), False, behind=not horizon.fresh)

    async def users_since(
        self, since: int, through: int, limit: int = 1000
    ) -> list[tuple[int, str]]:
        """(seq, user) of every user's changes after `since` up to `through` (a settled head):
        what the live feed wakes."""
        async with self._db.autocommit() as conn:
            parameters = {"since": since, "through": through, "page": limit}
            rows = await conn.execute(_USERS_SINCE, parameters)
            return [(seq, user) for seq, user in rows]

    async def prune(self, retention: timedelta, *, batch: int = PRUNE_BATCH) -> int:
        """Delete changes older than `retention`, oldest first, in small transactions, and
        note how far (a cursor below that has missed changes). Writers never wait on it: on
        PostgreSQL they do not touch `change_head`. Returns how many."""
        cutoff = self._clock() - retention
        pruned = 0
        while True:
            async with self._db.autocommit() as conn:
                rows = (await conn.execute(_OLDEST_BATCH, {"page": batch})).all()
            old = [seq for seq, at in rows if at < cutoff]
            if not old:
                return pruned
            async with self._db.writing() as conn:
                # Deleted by range up to the newest old one: seqs grow with time.
                await conn.execute(_PRUNE, {"through": old[-1]})
                await conn.execute(_NOTE_PRUNED, {"through": old[-1]})
            pruned += len(old)
            if len(old) < len(rows) or len(rows) < batch:
                return pruned


@dataclass(frozen=True)
class _Reading:
    issued: int  # the last number issued when it was read
    settled: int  # every change up to it has committed
    fresh: bool  # settled == issued: nothing was still being written
    at: float  # loop time it was taken


class _Horizon:
    """How far readers may read (see the module's docstring), read by one caller at a time:
    callers that arrive while a reading is under way share the next one."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._asked = 0  # callers so far
        self._answered = 0  # callers whose call began before the last reading did
        self._last: _Reading | None = None

    async def read(self, max_age_s: float = 0.0) -> _Reading:
        loop = asyncio.get_running_loop()
        last = self._last
        if max_age_s and last is not None and loop.time() - last.at <= max_age_s:
            return last
        self._asked += 1
        ticket = self._asked
        async with self._lock:
            last = self._last
            if last is not None and self._answered >= ticket:
                return last  # a reading that began after this call did
            covered = self._asked
            reading = await self._take(loop.time())
            if last is not None and last.settled > reading.settled:
                # Never backwards: an older reading settled further than this one could.
                reading = _Reading(reading.issued, last.settled, False, reading.at)
            self._last, self._answered = reading, covered
            return reading

    async def _take(self, now: float) -> _Reading:
        if self._db.is_sqlite:
            async with self._db.autocommit() as conn:
                head: int = (await conn.execute(_HEAD)).scalar_one()
            return _Reading(head, head, True, now)
        async with self._db.autocommit() as conn:
            issued, writing = (await conn.execute(_STAMP)).one()
        waited = 0.0
        delay = SETTLE_FIRST_S
        while writing:
            if waited >= SETTLE_WAIT_S:
                # A write still open: read as far as was settled before (it is delivered
                # once it commits, by a later reading).
                settled = 0 if self._last is None else self._last.settled
                return _Reading(issued, min(settled, issued), False, now)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, SETTLE_STEP_MAX_S)
            async with self._db.autocommit() as conn:
                found = await conn.execute(_STILL_WRITING, {"writing": writing})
                writing = [xid for (xid,) in found]
        return _Reading(issued, issued, True, now)


def _record(row: Any) -> ChangeRecord:
    seq, op, task_id, version, task, at = row
    return ChangeRecord(seq, op, task_id, version, None if task is None else _task_json(task), at)


def _task_json(logged: dict[str, Any]) -> dict[str, Any]:
    """The task as REST serves it, from the JSON the trigger built of its columns: SQLite's
    0/1 booleans and timestamps without an offset (stored in UTC) become what the API sends."""
    task = TaskPublic.model_validate(logged)
    naive = {
        name: value.replace(tzinfo=UTC)
        for name in _TIMESTAMPS
        if isinstance(value := getattr(task, name), datetime) and value.tzinfo is None
    }
    if naive:
        task = task.model_copy(update=naive)
    return task.model_dump(mode="json")


_TIMESTAMPS = ("created_at", "updated_at", "completed_at")
