"""The statements that write task rows (and read one), built once: building and hashing a
statement per call costs more than a primary-key lookup. `storage.tasks` runs them."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from storage.models import TaskCount
from storage.task_queries import PUBLIC_COLUMNS, list_table, task_table

_task = task_table
_counts: sa.Table = TaskCount.__table__  # type: ignore[attr-defined]


THIS_TASK = (_task.c.id == sa.bindparam("key_task"), _task.c.user_id == sa.bindparam("key_user"))
SELECT_ONE = sa.select(*PUBLIC_COLUMNS).where(*THIS_TASK)
SELECT_CURRENT = sa.select(*PUBLIC_COLUMNS, _task.c.next_id).where(*THIS_TASK)
# The user's list, locked against its deletion until the task that goes into it is written.
OWN_LIST = sa.select(list_table.c.id).where(
    list_table.c.id == sa.bindparam("key_list"), list_table.c.user_id == sa.bindparam("key_user")
)
MOVE_TO_INBOX = (
    sa.update(_task)
    .where(_task.c.user_id == sa.bindparam("key_user"), _task.c.list_id == sa.bindparam("key_list"))
    .values(list_id=None, version=_task.c.version + 1, updated_at=sa.bindparam("moved_at"))
    .returning(*PUBLIC_COLUMNS)
)
DELETE = sa.delete(_task).where(*THIS_TASK).returning(*PUBLIC_COLUMNS)
DELETE_AT_VERSION = (
    sa.delete(_task)
    .where(*THIS_TASK, _task.c.version == sa.bindparam("expected_version"))
    .returning(*PUBLIC_COLUMNS)
)
INSERT = sa.insert(_task).returning(*PUBLIC_COLUMNS)
# The columns a create writes: all but the id.
CREATED_COLUMNS = [column.name for column in _task.columns if column.name != "id"]
NEW_TASK = sa.select(*(sa.bindparam(name, type_=_task.c[name].type) for name in CREATED_COLUMNS))
UNCOUNT = (
    sa.update(_counts)
    .where(_counts.c.user_id == sa.bindparam("key_user"))
    .values(tasks=_counts.c.tasks - 1)
)


@functools.cache
def count_one_more(sqlite: bool) -> sa.Insert:
    """Count one more task for the user, if that keeps them within `quota`; RETURNING a row
    only then. The upsert takes the row lock of the user's count and checks the quota against
    its latest value, so concurrent creates of one user queue and the quota holds exactly."""
    # The dialect's own INSERT (for ON CONFLICT), imported only for the backend in use.
    upsert: Any
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = sqlite_insert(_counts)
    else:
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        upsert = postgresql_insert(_counts)
    statement = upsert.values(user_id=sa.bindparam("key_user"), tasks=1)
    result: sa.Insert = statement.on_conflict_do_update(
        index_elements=[_counts.c.user_id],
        set_={"tasks": _counts.c.tasks + 1},
        where=_counts.c.tasks < sa.bindparam("quota", type_=sa.Integer()),
    ).returning(_counts.c.tasks)
    return result


@functools.cache
def create_counted() -> sa.Insert:
    """PostgreSQL: the count and the insert as one statement (no BEGIN/COMMIT, one round
    trip). The task row is written only if the count returned a row."""
    counted = count_one_more(sqlite=False).cte("counted")
    return (
        sa.insert(_task)
        .from_select(CREATED_COLUMNS, NEW_TASK.select_from(counted))
        .returning(*PUBLIC_COLUMNS)
        .add_cte(counted)
    )


@functools.cache
def delete_counted(guarded: bool) -> sa.Select[Any]:
    """PostgreSQL: the delete and the count's decrement as one statement."""
    gone = (DELETE_AT_VERSION if guarded else DELETE).cte("gone")
    how_many = sa.select(sa.func.count()).select_from(gone).scalar_subquery()
    uncounted = UNCOUNT.values(tasks=_counts.c.tasks - how_many).cte("uncounted")
    return sa.select(*gone.c).add_cte(uncounted)


@functools.cache
def update_statement(columns: tuple[str, ...], guarded: bool) -> sa.Update:
    """UPDATE of these columns, only where one differs (a derived key differs only where
    its source does, so comparing it too changes nothing)."""

    def new(column: str) -> sa.BindParameter[Any]:
        return sa.bindparam(f"new_{column}", type_=_task.c[column].type)

    conditions = [
        *THIS_TASK,
        sa.or_(*(_task.c[column].is_distinct_from(new(column)) for column in columns)),
    ]
    if guarded:
        conditions.append(_task.c.version == sa.bindparam("expected_version"))
    values: dict[str, Any] = {column: new(column) for column in columns}
    values["version"] = _task.c.version + 1
    if "completed" in columns:
        # Set when completed (kept if it already was), cleared when reopened.
        values["completed_at"] = sa.case(
            (new("completed"), sa.func.coalesce(_task.c.completed_at, new("updated_at"))),
            else_=sa.null(),
        )
    # A clock that stepped back never moves updated_at back.
    values["updated_at"] = sa.case(
        (_task.c.updated_at > new("updated_at"), _task.c.updated_at), else_=new("updated_at")
    )
    return sa.update(_task).where(*conditions).values(values).returning(*PUBLIC_COLUMNS)
