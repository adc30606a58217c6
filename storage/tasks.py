"""The task repository: every read and write of task rows, always scoped to one user."""

from __future__ import annotations

import builtins  # `list` is also a method name below
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.errors import (
    IdempotencyKeyReusedError,
    QuotaExceededError,
    StorageError,
    TaskNotFoundError,
    VersionMismatchError,
)
from storage.models import (
    PRIORITY_RANK,
    IdempotencyRecord,
    Priority,
    SortKey,
    Task,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskUpdate,
    fold,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
# The first half of the two-part advisory lock key taken by a quota-checked create.
_QUOTA_LOCK = 0x7144

_task: sa.Table = Task.__table__  # type: ignore[attr-defined]
_keys: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_PUBLIC_COLUMNS = [_task.c[name] for name in TaskPublic.model_fields]
_priority_rank = sa.case(
    {p.value: rank for p, rank in PRIORITY_RANK.items()}, value=_task.c.priority
)
_SORTS: dict[SortKey, Sequence[sa.ColumnElement[Any]]] = {
    "created_at": (_task.c.created_at.asc(),),
    "-created_at": (_task.c.created_at.desc(),),
    # Tasks without a due date go last in both directions.
    "due_date": (_task.c.due_date.is_(None).asc(), _task.c.due_date.asc()),
    "-due_date": (_task.c.due_date.is_(None).asc(), _task.c.due_date.desc()),
    "priority": (_priority_rank.asc(),),
    "-priority": (_priority_rank.desc(),),
    "title": (_task.c.title_key.asc(),),
    "-title": (_task.c.title_key.desc(),),
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class _KeyTakenError(StorageError):
    """Another create with the same idempotency key committed first; replay it."""


class TaskRepository:
    def __init__(
        self,
        db: Database,
        *,
        quota: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._quota = quota
        self._clock = clock
        # Case-insensitive search is a plain substring test on casefolded columns, so `%` and
        # `_` mean themselves and both backends agree on all of Unicode.
        self._position = sa.func.instr if db.is_sqlite else sa.func.strpos

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
        }
        if idempotency_key is None:
            async with self._db.writing() as conn:
                await self._check_quota(conn, user_id)
                return await self._insert(conn, values)
        digest = _digest(data)
        for _ in range(2):
            try:
                async with self._db.writing() as conn:
                    replay = await self._replay(conn, user_id, idempotency_key, digest, now)
                    if replay is not None:
                        return replay
                    await self._check_quota(conn, user_id)
                    task = await self._insert(conn, values)
                    await self._remember(conn, user_id, idempotency_key, digest, task, now)
                    return task
            except _KeyTakenError:
                continue
        raise StorageError("idempotency key contention")

    async def get(self, user_id: str, task_id: int) -> TaskPublic:
        async with self._db.reading() as conn:
            row = (await conn.execute(self._select_one(user_id, task_id))).one_or_none()
        if row is None:
            raise TaskNotFoundError(task_id)
        return _public(row)

    async def list(self, user_id: str, query: TaskQuery) -> TaskPage:
        conditions = self._conditions(user_id, query)
        total_column = sa.func.count().over().label("total")
        statement = (
            sa.select(*_PUBLIC_COLUMNS, total_column)
            .where(*conditions)
            .order_by(*_SORTS[query.sort], _task.c.id.asc())
            .limit(query.limit)
            .offset(query.offset)
        )
        async with self._db.reading() as conn:
            rows = (await conn.execute(statement)).all()
            if rows:
                total = rows[0].total
            else:
                # Past the last page the window has no row to ride on: count on its own.
                counted = sa.select(sa.func.count()).select_from(_task).where(*conditions)
                total = (await conn.execute(counted)).scalar_one()
        return TaskPage(tasks=[_public(row) for row in rows], total=total)

    async def update(
        self,
        user_id: str,
        task_id: int,
        changes: TaskUpdate,
        *,
        expected_version: int | None = None,
    ) -> TaskPublic:
        """Apply the given fields. A change to nothing (or to the same values) leaves the
        task, its version and its `updated_at` as they were."""
        async with self._db.writing() as conn:
            row = (
                await conn.execute(self._select_one(user_id, task_id).with_for_update())
            ).one_or_none()
            if row is None:
                raise TaskNotFoundError(task_id)
            if expected_version is not None and row.version != expected_version:
                raise VersionMismatchError(task_id, expected_version, row.version)
            current = _public(row)
            new = {k: v for k, v in changes.changes().items() if getattr(current, k) != v}
            if not new:
                return current
            values = {
                **_column_values(new),
                "version": row.version + 1,
                "updated_at": max(self._clock(), current.updated_at),
            }
            statement = (
                sa.update(_task)
                .where(_task.c.id == task_id, _task.c.user_id == user_id)
                .values(values)
                .returning(*_PUBLIC_COLUMNS)
            )
            return _public((await conn.execute(statement)).one())

    async def delete(
        self, user_id: str, task_id: int, *, expected_version: int | None = None
    ) -> TaskPublic:
        """Delete a task and return it as it was."""
        statement = sa.delete(_task).where(_task.c.id == task_id, _task.c.user_id == user_id)
        if expected_version is not None:
            statement = statement.where(_task.c.version == expected_version)
        async with self._db.writing() as conn:
            row = (await conn.execute(statement.returning(*_PUBLIC_COLUMNS))).one_or_none()
            if row is not None:
                return _public(row)
            if expected_version is None:
                raise TaskNotFoundError(task_id)
            actual = (
                await conn.execute(
                    sa.select(_task.c.version).where(
                        _task.c.id == task_id, _task.c.user_id == user_id
                    )
                )
            ).scalar_one_or_none()
        if actual is None:
            raise TaskNotFoundError(task_id)
        raise VersionMismatchError(task_id, expected_version, actual)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _select_one(user_id: str, task_id: int) -> sa.Select[Any]:
        return sa.select(*_PUBLIC_COLUMNS).where(_task.c.id == task_id, _task.c.user_id == user_id)

    def _conditions(self, user_id: str, query: TaskQuery) -> builtins.list[sa.ColumnElement[bool]]:
        conditions: builtins.list[sa.ColumnElement[bool]] = [_task.c.user_id == user_id]
        if query.status != "all":
            conditions.append(_task.c.completed.is_(query.status == "completed"))
        if query.query is not None:
            needle = fold(query.query)
            conditions.append(
                sa.or_(
                    self._position(_task.c.title_key, needle) > 0,
                    self._position(_task.c.description_key, needle) > 0,
                )
            )
        if query.priority is not None:
            conditions.append(_task.c.priority == query.priority.value)
        if query.tag is not None:
            conditions.append(self._has_tag(query.tag))
        if query.due_before is not None:
            conditions.append(_task.c.due_date <= query.due_before)
        if query.due_after is not None:
            conditions.append(_task.c.due_date >= query.due_after)
        return conditions

    def _has_tag(self, tag: str) -> sa.ColumnElement[bool]:
        if not self._db.is_sqlite:
            from sqlalchemy.dialects.postgresql import JSONB

            return sa.type_coerce(_task.c.tags, JSONB).contains([tag])
        each = sa.func.json_each(_task.c.tags).table_valued("value")
        return sa.exists(sa.select(1).select_from(each).where(each.c.value == tag))

    async def _check_quota(self, conn: AsyncConnection, user_id: str) -> None:
        if self._quota is None:
            return
        if not self._db.is_sqlite:
            # Creates of one user queue here, so two cannot both see room for one more task.
            # (SQLite's BEGIN IMMEDIATE already lets one writer in at a time.)
            await conn.execute(
                sa.select(sa.func.pg_advisory_xact_lock(_QUOTA_LOCK, sa.func.hashtext(user_id)))
            )
        counted = sa.select(sa.func.count()).select_from(_task).where(_task.c.user_id == user_id)
        if (await conn.execute(counted)).scalar_one() >= self._quota:
            raise QuotaExceededError(self._quota)

    @staticmethod
    async def _insert(conn: AsyncConnection, values: dict[str, Any]) -> TaskPublic:
        statement = sa.insert(_task).values(values).returning(*_PUBLIC_COLUMNS)
        return _public((await conn.execute(statement)).one())

    @staticmethod
    async def _replay(
        conn: AsyncConnection, user_id: str, key: str, digest: str, now: datetime
    ) -> TaskPublic | None:
        where = (_keys.c.user_id == user_id, _keys.c.key == key)
        # Expired keys of this user are dropped here, where they would otherwise be found.
        await conn.execute(
            sa.delete(_keys).where(
                _keys.c.user_id == user_id, _keys.c.created_at < now - IDEMPOTENCY_TTL
            )
        )
        row = (
            await conn.execute(sa.select(_keys.c.request_hash, _keys.c.response).where(*where))
        ).one_or_none()
        if row is None:
            return None
        if row.request_hash != digest:
            raise IdempotencyKeyReusedError(key)
        return TaskPublic.model_validate(row.response)

    @staticmethod
    async def _remember(
        conn: AsyncConnection,
        user_id: str,
        key: str,
        digest: str,
        task: TaskPublic,
        now: datetime,
    ) -> None:
        record = {
            "user_id": user_id,
            "key": key,
            "request_hash": digest,
            "response": task.model_dump(mode="json"),
            "created_at": now,
        }
        try:
            await conn.execute(sa.insert(_keys).values(record))
        except sa.exc.IntegrityError:
            # A concurrent create with this key committed first: the caller's transaction is
            # rolled back and retried, and then replays that create's answer.
            raise _KeyTakenError() from None


def _public(row: Any) -> TaskPublic:
    """A task from a result row (anything with `_mapping`)."""
    return TaskPublic.model_validate(row._mapping)


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


def _digest(data: TaskCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
