"""The list repository: a user's lists (projects) of tasks, always scoped to one user.

A list's name is unique per user ignoring case (a unique index on the folded name decides,
so concurrent creates cannot both win), a user has at most `MAX_LISTS` (counted on the user's
`task_count` row, which concurrent creates queue on), and deleting a list moves its tasks to
the inbox in the same transaction (through `storage.tasks.move_to_inbox`, where the task rows
are written).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import MISSING
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.change_notify import notifier
from storage.database import Database
from storage.errors import (
    ListLimitError,
    ListNameTakenError,
    ListNotFoundError,
    ListVersionMismatchError,
)
from storage.models import (
    MAX_ID,
    MAX_LISTS,
    ListCreate,
    ListPublic,
    ListUpdate,
    TaskCount,
    TaskPublic,
    fold,
)
from storage.task_queries import list_table, task_table
from storage.types import utcnow

# Moves a list's tasks to the inbox in the caller's transaction: the task repository's, which
# writes every task row (storage.tasks.move_to_inbox).
MoveToInbox = Callable[[AsyncConnection, str, int, datetime], Awaitable[list[TaskPublic]]]

_list = list_table
_task = task_table
_counts: sa.Table = TaskCount.__table__  # type: ignore[attr-defined]

_OF_USER = _list.c.user_id == sa.bindparam("key_user")
_THIS_LIST = (_list.c.id == sa.bindparam("key_list"), _OF_USER)
_OPEN_COUNT = (
    sa.select(sa.func.count())
    .where(
        _task.c.user_id == _list.c.user_id,
        _task.c.list_id == _list.c.id,
        _task.c.completed.is_(False),
    )
    .correlate(_list)
    .scalar_subquery()
    .label("open_count")
)
_COLUMNS = (
    _list.c.id,
    _list.c.name,
    _OPEN_COUNT,
    _list.c.created_at,
    _list.c.updated_at,
    _list.c.version,
)
_SELECT_ONE = sa.select(*_COLUMNS).where(*_THIS_LIST)
_SELECT_ALL = sa.select(*_COLUMNS).where(_OF_USER).order_by(_list.c.name_key, _list.c.id)
_INSERT = sa.insert(_list).returning(_list.c.id)
_RENAME = (
    sa.update(_list)
    .where(*_THIS_LIST, _list.c.name.is_distinct_from(sa.bindparam("new_name")))
    .values(
        name=sa.bindparam("new_name"),
        name_key=sa.bindparam("new_key"),
        version=_list.c.version + 1,
        updated_at=sa.bindparam("now", type_=_list.c.updated_at.type),
    )
    .returning(_list.c.id)
)
_DELETE = sa.delete(_list).where(*_THIS_LIST)
_UNCOUNT = (
    sa.update(_counts)
    .where(_counts.c.user_id == sa.bindparam("key_user"))
    .values(lists=_counts.c.lists - 1)
)


@functools.cache
def _count_one_more(sqlite: bool) -> sa.Insert:
    """Count one more list for the user if that keeps them within `MAX_LISTS`; RETURNING a
    row only then (the same upsert as the task quota's, on the same row)."""
    upsert: Any
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = sqlite_insert(_counts)
    else:
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        upsert = postgresql_insert(_counts)
    statement = upsert.values(user_id=sa.bindparam("key_user"), tasks=0, lists=1)
    result: sa.Insert = statement.on_conflict_do_update(
        index_elements=[_counts.c.user_id],
        set_={"lists": _counts.c.lists + 1},
        where=_counts.c.lists < MAX_LISTS,
    ).returning(_counts.c.lists)
    return result


class ListRepository:
    def __init__(
        self,
        db: Database,
        *,
        move_to_inbox: MoveToInbox,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._clock = clock
        self._move_to_inbox = move_to_inbox

    async def create(self, user_id: str, data: ListCreate) -> ListPublic:
        now = self._clock()
        values = {
            "user_id": user_id,
            "name": data.name,
            "name_key": fold(data.name),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        async with self._db.writing() as conn:
            counted = await conn.execute(_count_one_more(self._db.is_sqlite), {"key_user": user_id})
            if counted.one_or_none() is None:
                raise ListLimitError(MAX_LISTS)
            with _unique_name(data.name):
                list_id = (await conn.execute(_INSERT, values)).scalar_one()
            return await self._read(conn, user_id, list_id)

    async def get(self, user_id: str, list_id: int) -> ListPublic:
        _check_reachable(list_id)
        async with self._db.autocommit() as conn:
            return await self._read(conn, user_id, list_id)

    async def all(self, user_id: str) -> list[ListPublic]:
        """The user's lists by name."""
        async with self._db.autocommit() as conn:
            rows = await conn.execute(_SELECT_ALL, {"key_user": user_id})
            return [ListPublic.model_validate(row._mapping) for row in rows]

    async def update(
        self,
        user_id: str,
        list_id: int,
        changes: ListUpdate,
        *,
        expected_version: int | None = None,
    ) -> ListPublic:
        """Rename a list (a rename to the same name changes nothing, not even its version)."""
        _check_reachable(list_id)
        async with self._db.writing() as conn:
            current = await self._read(conn, user_id, list_id, lock=True)
            _check_version(current, expected_version)
            name = changes.name
            if name is MISSING:
                return current
            parameters = {
                "key_user": user_id,
                "key_list": list_id,
                "new_name": name,
                "new_key": fold(name),
                "now": max(self._clock(), current.updated_at),
            }
            with _unique_name(name):
                await conn.execute(_RENAME, parameters)
            return await self._read(conn, user_id, list_id)

    async def delete(
        self, user_id: str, list_id: int, *, expected_version: int | None = None
    ) -> ListPublic:
        """Delete a list, its tasks moved to the inbox in the same transaction; the list as
        it was."""
        _check_reachable(list_id)
        async with self._db.writing() as conn:
            # Locked first: a task being written into the list meanwhile either commits before
            # (and is moved below) or finds the list gone.
            current = await self._read(conn, user_id, list_id, lock=True)
            _check_version(current, expected_version)
            moved = await self._move_to_inbox(conn, user_id, list_id, self._clock())
            await conn.execute(_DELETE, {"key_user": user_id, "key_list": list_id})
            await conn.execute(_UNCOUNT, {"key_user": user_id})
        if moved:
            notifier(self._db).changed(user_id)
        return current

    async def _read(
        self, conn: AsyncConnection, user_id: str, list_id: int, *, lock: bool = False
    ) -> ListPublic:
        statement = _SELECT_ONE
        if lock and not self._db.is_sqlite:
            statement = statement.with_for_update(of=_list)
        row = (
            await conn.execute(statement, {"key_user": user_id, "key_list": list_id})
        ).one_or_none()
        if row is None:
            raise ListNotFoundError(list_id)
        return ListPublic.model_validate(row._mapping)


def _check_reachable(list_id: int) -> None:
    if not 1 <= list_id <= MAX_ID:
        raise ListNotFoundError(list_id)


def _check_version(current: ListPublic, expected_version: int | None) -> None:
    if expected_version is not None and current.version != expected_version:
        raise ListVersionMismatchError(current.id, expected_version, current.version)


@contextmanager
def _unique_name(name: str) -> Iterator[None]:
    """A duplicate name, refused by the unique index, as ListNameTakenError (the error ends
    the transaction, so nothing of it stays)."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise ListNameTakenError(name) from exc
