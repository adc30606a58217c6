"""The task repository: every read and write of task rows, always scoped to one user."""

from __future__ import annotations

import builtins  # `list` is also a method name below
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import task_statements as sql
from storage.change_notify import notifier
from storage.database import Database
from storage.errors import (
    QuotaExceededError,
    RecurrenceNeedsDueDateError,
    StorageError,
    TaskNotFoundError,
    UnknownListError,
    VersionMismatchError,
)
from storage.idempotency import KEY_ATTEMPTS, ClaimLostError, IdempotencyKeys, digest
from storage.lists import ListRepository
from storage.models import (
    MAX_ID,
    Priority,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskResult,
    TaskUpdate,
    fold,
)
from storage.recurrence import next_occurrence
from storage.task_queries import (
    ListShape,
    list_statements,
    tags_statement,
)
from storage.types import utcnow

_NO_QUOTA = MAX_ID


def _key(user_id: str, task_id: int) -> dict[str, Any]:
    return {"key_user": user_id, "key_task": task_id}


class TaskRepository:
    def __init__(
        self,
        db: Database,
        *,
        quota: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        # Counts are kept without a quota too (one set later is right at once); they never bind.
        self._quota = _NO_QUOTA if quota is None else quota
        self._clock = clock
        self._keys = IdempotencyKeys(db, clock)
        # After each write that changed a task: the NOTIFY for other processes' live feeds.
        self._changed = notifier(db).changed
        # The user's lists: the tools reach them through the task repository they hold.
        self.lists = ListRepository(db, move_to_inbox=move_to_inbox, clock=clock)

    async def create(
        self, user_id: str, data: TaskCreate, *, idempotency_key: str | None = None
    ) -> TaskPublic:
        """Add a task. With an idempotency key, a repeat of the same create returns the first
        answer for 24 hours, and the same key with different data raises."""
        now = self._clock()
        values = {
            "user_id": user_id,
            **_column_values(data.model_dump()),
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "completed_at": now if data.completed else None,
            "next_id": None,
        }
        if idempotency_key is None:
            # The task and its count (and, by the trigger, its change in the log).
            async with self._one_write(data.list_id is None) as conn:
                await self._check_list(conn, user_id, data.list_id)
                created = await self._insert(conn, values)
            self._changed(user_id)
            return created
        request_hash = request_digest(data)
        for _ in range(KEY_ATTEMPTS):
            # Each attempt is as new as its claim: a retry after a lost race reads the clock
            # again (for the claim and the task's timestamps alike).
            claimed_at, replay = await self._keys.claim(user_id, idempotency_key, request_hash)
            if replay is not None:
                # Answers recorded before lists and recurrence existed lack their fields.
                old = {"list_id": None, "recurrence": None, "completed_at": None}
                return TaskPublic.model_validate({**old, **replay})
            values.update(created_at=claimed_at, updated_at=claimed_at)
            if data.completed:
                values["completed_at"] = claimed_at
            try:
                async with self._db.writing() as conn:
                    await self._check_list(conn, user_id, data.list_id)
                    task = await self._insert(conn, values)
                    response = task.model_dump(mode="json")
                    await self._keys.complete(conn, user_id, idempotency_key, claimed_at, response)
                self._changed(user_id)
                return task
            except ClaimLostError:
                continue  # taken over as stale: that create's answer (or its claim) decides
            except BaseException:
                await self._keys.release(user_id, idempotency_key, claimed_at)
                raise
        raise StorageError("idempotency key contention")

    async def get(self, user_id: str, task_id: int) -> TaskPublic:
        if not 1 <= task_id <= MAX_ID:
            # No row can have it, and the drivers cannot even send it (an overflow).
            raise TaskNotFoundError(task_id)
        async with self._db.autocommit() as conn:
            row = (await conn.execute(sql.SELECT_ONE, _key(user_id, task_id))).one_or_none()
        if row is None:
            raise TaskNotFoundError(task_id)
        return _public(row)

    async def list(self, user_id: str, query: TaskQuery) -> TaskPage:
        shape = ListShape(
            sqlite=self._db.is_sqlite,
            status=query.status,
            sort=query.sort,
            query=query.query is not None,
            priority=query.priority is not None,
            tag=query.tag is not None,
            due_before=query.due_before is not None,
            due_after=query.due_after is not None,
            list=None if query.list_id is None else "none" if query.list_id == "none" else "one",
        )
        page, counted = list_statements(shape)
        parameters: dict[str, Any] = {
            "key_user": user_id,
            "needle": None if query.query is None else fold(query.query),
            "priority": None if query.priority is None else query.priority.value,
            "tag": query.tag,
            "tag_list": [query.tag],
            "due_before": query.due_before,
            "due_after": query.due_after,
            "list_id": query.list_id if isinstance(query.list_id, int) else None,
            # One row more than the page: without it, this page is the last, and the total
            # follows from it. Only a longer list needs counting, by an index-only count
            # that costs the same for any length (a count riding on each row as a window
            # function made the query read and sort every matching task).
            "page_limit": query.limit + 1,
            "page_offset": query.offset,
        }
        async with self._db.autocommit() as conn:
            rows = (await conn.execute(page, parameters)).all()
            if len(rows) > query.limit or (not rows and query.offset):
                total = (await conn.execute(counted, parameters)).scalar_one()
            else:
                total = query.offset + len(rows)
        # The column names once for the page (a row builds their list on every `_fields`).
        names = rows[0]._fields if rows else ()
        tasks = [
            TaskPublic.model_validate(dict(zip(names, row, strict=True)))
            for row in rows[: query.limit]
        ]
        return TaskPage(tasks=tasks, total=total)

    async def tags(self, user_id: str) -> builtins.list[str]:
        """Every tag on the user's tasks, once, the most used first."""
        async with self._db.autocommit() as conn:
            rows = await conn.execute(tags_statement(self._db.is_sqlite), {"key_user": user_id})
            return [tag for (tag,) in rows]

    async def update(
        self,
        user_id: str,
        task_id: int,
        changes: TaskUpdate,
        *,
        expected_version: int | None = None,
    ) -> TaskPublic:
        """Apply the given fields. A change to nothing (or to the same values) leaves the
        task, its version and its `updated_at` as they were.

        Most changes are one UPDATE, guarded so that it touches the row only when some value
        really differs (and the version is the expected one); the log's trigger appends its
        change within it. Only when it touches nothing is the row read, to tell which case that
        was.
        A change that must be checked against the task or a list as they are (a list to move
        into, a recurrence and its due date, a completion that may create the next occurrence)
        reads them in the UPDATE's transaction instead. A completion that created the next
        occurrence of a recurring task returns a `TaskResult` naming it."""
        await self._check_reachable(user_id, task_id, expected_version)
        given = changes.changes()
        if given:
            values = _column_values(given)
            now = self._clock()
            if _needs_reading(values):
                result = await self._update_checked(user_id, task_id, values, expected_version, now)
                if result is not None:
                    self._changed(user_id)
                    return result
            else:
                async with self._one_write() as conn:
                    row = await self._apply(conn, user_id, task_id, values, expected_version, now)
                if row is not None:
                    self._changed(user_id)
                    return _public(row)
        current = await self.get(user_id, task_id)
        if expected_version is not None and current.version != expected_version:
            raise VersionMismatchError(task_id, expected_version, current.version)
        return current

    async def _update_checked(
        self,
        user_id: str,
        task_id: int,
        values: dict[str, Any],
        expected_version: int | None,
        now: datetime,
    ) -> TaskPublic | None:
        """The update in a transaction that first reads (and on PostgreSQL locks) the task; None
        when it changed nothing."""
        select = sql.SELECT_CURRENT if self._db.is_sqlite else sql.SELECT_CURRENT.with_for_update()
        async with self._db.writing() as conn:
            # The list before the task: a list's deletion locks the list, then its tasks.
            await self._check_list(conn, user_id, values.get("list_id"))
            current = (await conn.execute(select, _key(user_id, task_id))).one_or_none()
            if current is None:
                raise TaskNotFoundError(task_id)
            if expected_version is not None and current.version != expected_version:
                raise VersionMismatchError(task_id, expected_version, current.version)
            after = {**current._mapping, **values}
            if after["recurrence"] is not None and after["due_date"] is None:
                raise RecurrenceNeedsDueDateError(task_id)
            next_id = None
            if (
                values.get("completed") is True
                and not current.completed
                and after["recurrence"] is not None
                and current.next_id is None
            ):
                next_id = await self._create_successor(conn, user_id, after, now)
                if next_id is not None:
                    values = {**values, "next_id": next_id}
            row = await self._apply(conn, user_id, task_id, values, expected_version, now)
        if row is None:
            return None
        if next_id is None:
            return _public(row)
        return TaskResult.model_validate({**_row_dict(row), "next_task_id": next_id})

    async def _create_successor(
        self, conn: AsyncConnection, user_id: str, task: dict[str, Any], now: datetime
    ) -> int | None:
        """Add the next occurrence of the recurring `task` (as it is being completed); its id,
        or None when the rule has no more occurrences."""
        following = next_occurrence(task["recurrence"], task["due_date"])
        if following is None:
            return None
        due_date, rule = following
        copied = ("title", "description", "priority", "tags")
        values = {
            "user_id": user_id,
            **_column_values({name: task[name] for name in copied}),
            "list_id": task["list_id"],
            "recurrence": rule,
            "due_date": due_date,
            "completed": False,
            "completed_at": None,
            "next_id": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        return (await self._insert(conn, values)).id

    async def delete(
        self, user_id: str, task_id: int, *, expected_version: int | None = None
    ) -> TaskPublic:
        """Delete a task and return it as it was."""
        await self._check_reachable(user_id, task_id, expected_version)
        parameters: dict[str, Any] = _key(user_id, task_id)
        guarded = expected_version is not None
        if guarded:
            parameters["expected_version"] = expected_version
        if not self._db.is_sqlite:
            async with self._one_write() as conn:
                row = (await conn.execute(sql.delete_counted(guarded), parameters)).one_or_none()
        else:
            # SQLite has no DELETE inside WITH: two statements in one transaction.
            async with self._db.writing() as conn:
                statement = sql.DELETE_AT_VERSION if guarded else sql.DELETE
                row = (await conn.execute(statement, parameters)).one_or_none()
                if row is not None:
                    await conn.execute(sql.UNCOUNT, {"key_user": user_id})
        if row is not None:
            self._changed(user_id)
            return _public(row)
        current = await self.get(user_id, task_id)  # raises if it is not there
        # It is there, so only a version guard can have stopped the delete.
        raise VersionMismatchError(task_id, expected_version or 0, current.version)

    # --- helpers ----------------------------------------------------------------------------

    def _one_write(
        self, one_statement: bool = True
    ) -> AbstractAsyncContextManager[AsyncConnection]:
        """Where a write runs. On PostgreSQL a write that is one statement runs in autocommit:
        it is atomic by itself, its change is appended inside it by the log's trigger
        (storage.changes), and it costs one round trip instead of BEGIN, write, COMMIT. On
        SQLite (where a create is two statements) and for anything longer: a transaction."""
        if one_statement and not self._db.is_sqlite:
            return self._db.autocommit()
        return self._db.writing()

    async def _check_reachable(
        self, user_id: str, task_id: int, expected_version: int | None
    ) -> None:
        """Ids and versions outside the columns' range are answered as what they mean (no
        such task; not at that version) before any statement, which could not carry them."""
        if not 1 <= task_id <= MAX_ID:
            raise TaskNotFoundError(task_id)
        if expected_version is not None and not 1 <= expected_version <= MAX_ID:
            current = await self.get(user_id, task_id)
            raise VersionMismatchError(task_id, expected_version, current.version)

    async def _check_list(self, conn: AsyncConnection, user_id: str, list_id: int | None) -> None:
        """Raise unless `list_id` is None or one of the user's lists. On PostgreSQL the list
        stays locked until the caller's transaction ends, so that a deletion of the list waits
        and then moves the task written meanwhile to the inbox (storage.lists)."""
        if list_id is None:
            return
        statement = (
            sql.OWN_LIST if self._db.is_sqlite else sql.OWN_LIST.with_for_update(key_share=True)
        )
        found = await conn.execute(statement, {"key_list": list_id, "key_user": user_id})
        if found.one_or_none() is None:
            raise UnknownListError(list_id)

    async def _apply(
        self,
        conn: AsyncConnection,
        user_id: str,
        task_id: int,
        values: dict[str, Any],
        expected_version: int | None,
        now: datetime,
    ) -> sa.Row[Any] | None:
        """Write the changed columns of one task (every update of a task row goes through
        here); its row as it now is, or None when nothing differed or the version did not
        match. The log's trigger appends the change in the same statement."""
        statement = sql.update_statement(tuple(sorted(values)), expected_version is not None)
        parameters = {f"new_{k}": v for k, v in values.items()}
        parameters.update(_key(user_id, task_id), new_updated_at=now)
        if expected_version is not None:
            parameters["expected_version"] = expected_version
        row: sa.Row[Any] | None = (await conn.execute(statement, parameters)).one_or_none()
        return row

    async def _insert(self, conn: AsyncConnection, values: dict[str, Any]) -> TaskPublic:
        """Insert the task and count it, within the user's quota (every new task row, created
        or the next occurrence of a recurring one, is written here)."""
        parameters = {**values, "key_user": values["user_id"], "quota": self._quota}
        if self._db.is_sqlite:
            # SQLite has no INSERT inside WITH: two statements in the caller's transaction.
            counted = await conn.execute(sql.count_one_more(sqlite=True), parameters)
            inserted = None
            if counted.one_or_none() is not None:
                inserted = await conn.execute(sql.INSERT, values)
        else:
            inserted = await conn.execute(sql.create_counted(), parameters)
        task = None if inserted is None else inserted.one_or_none()
        if task is None:
            raise QuotaExceededError(self._quota)
        return _public(task)


async def move_to_inbox(
    conn: AsyncConnection, user_id: str, list_id: int, now: datetime
) -> builtins.list[TaskPublic]:
    """Move every task of the list to the inbox, in the caller's transaction (a list's
    deletion, storage.lists); the tasks as they now are."""
    parameters = {"key_user": user_id, "key_list": list_id, "moved_at": now}
    return [_public(row) for row in await conn.execute(sql.MOVE_TO_INBOX, parameters)]


def request_digest(data: TaskCreate) -> str:
    """What identifies a create's data under its idempotency key. The fields lists and
    recurrence added count only when set: a key used before they existed still matches."""
    return digest(data, unless_none=("list_id", "recurrence"))


def _public(row: sa.Row[Any]) -> TaskPublic:
    """A task from a result row. A plain dict validates in half the time of `row._mapping`,
    which pydantic can only read key by key from Python."""
    return TaskPublic.model_validate(_row_dict(row))


def _row_dict(row: sa.Row[Any]) -> dict[str, Any]:
    return dict(zip(row._fields, row, strict=True))


def _needs_reading(values: dict[str, Any]) -> bool:
    """Whether a change must be checked against the task or its list as they are."""
    return (
        values.get("completed") is True
        or values.get("list_id") is not None
        or values.get("recurrence") is not None
        or ("due_date" in values and values["due_date"] is None)
    )


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Column values for the given task fields, with the derived search/sort keys."""
    values = dict(fields)
    if "title" in values:
        values["title_key"] = fold(values["title"])
    if "description" in values:
        description = values["description"]
        values["description_key"] = None if description is None else fold(description)
    if isinstance(values.get("priority"), Priority):
        values["priority"] = values["priority"].value
    return values
