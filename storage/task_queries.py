"""The statements that read task listings: the page and count of a filtered, sorted listing,
and a user's tags. Built once per shape of listing and cached, so they are public for the
benchmarks that EXPLAIN them (`bench/scale.py`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from storage.models import PRIORITY_RANK, SortKey, Task, TaskList, TaskPublic

task_table: sa.Table = Task.__table__  # type: ignore[attr-defined]
list_table: sa.Table = TaskList.__table__  # type: ignore[attr-defined]
PUBLIC_COLUMNS = [task_table.c[name] for name in TaskPublic.model_fields]
OF_USER = task_table.c.user_id == sa.bindparam("key_user")

_task = task_table
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
    # Open tasks (no completion time) go last in both directions.
    "completed_at": (_task.c.completed_at.is_(None).asc(), _task.c.completed_at.asc()),
    "-completed_at": (_task.c.completed_at.is_(None).asc(), _task.c.completed_at.desc()),
}


@dataclass(frozen=True)
class ListShape:
    """Which filters a listing uses: listings of one shape share their statements."""

    sqlite: bool
    status: str
    sort: SortKey
    query: bool
    priority: bool
    tag: bool
    due_before: bool
    due_after: bool
    # None: any list; "none": the inbox; "one": the list given as `list_id`.
    list: str | None = None


@functools.cache  # finitely many: 2 backends x 3 statuses x 10 sorts x 32 filter sets x 3 lists
def list_statements(shape: ListShape) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The page query and the count of all that match."""
    conditions: list[sa.ColumnElement[bool]] = [OF_USER]
    if shape.status != "all":
        conditions.append(_task.c.completed.is_(shape.status == "completed"))
    if shape.query:
        # Case-insensitive search is a plain substring test on casefolded columns, so `%` and
        # `_` mean themselves and both backends agree on all of Unicode.
        position = sa.func.instr if shape.sqlite else sa.func.strpos
        needle = sa.bindparam("needle", type_=sa.Text())
        conditions.append(
            sa.or_(
                position(_task.c.title_key, needle) > 0,
                position(_task.c.description_key, needle) > 0,
            )
        )
    if shape.priority:
        conditions.append(_task.c.priority == sa.bindparam("priority"))
    if shape.tag:
        conditions.append(_has_tag(shape.sqlite))
    if shape.due_before:
        conditions.append(_task.c.due_date <= sa.bindparam("due_before", type_=sa.Date()))
    if shape.due_after:
        conditions.append(_task.c.due_date >= sa.bindparam("due_after", type_=sa.Date()))
    if shape.list == "none":
        conditions.append(_task.c.list_id.is_(None))
    elif shape.list is not None:
        conditions.append(_task.c.list_id == sa.bindparam("list_id", type_=sa.Integer()))
    page = (
        sa.select(*PUBLIC_COLUMNS)
        .where(*conditions)
        .order_by(*_SORTS[shape.sort], _task.c.id.asc())
        .limit(sa.bindparam("page_limit", type_=sa.Integer()))
        .offset(sa.bindparam("page_offset", type_=sa.Integer()))
    )
    counted = sa.select(sa.func.count()).select_from(_task).where(*conditions)
    return page, counted


def _has_tag(sqlite: bool) -> sa.ColumnElement[bool]:
    if not sqlite:
        from sqlalchemy.dialects.postgresql import JSONB

        tags = sa.type_coerce(_task.c.tags, JSONB)
        return tags.contains(sa.bindparam("tag_list", type_=JSONB))
    each = sa.func.json_each(_task.c.tags).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == sa.bindparam("tag")))


@functools.cache
def tags_statement(sqlite: bool) -> sa.Select[Any]:
    """The distinct tags of a user's tasks, the most used first."""
    if sqlite:
        each = sa.func.json_each(_task.c.tags).table_valued("value")
    else:
        each = sa.func.jsonb_array_elements_text(_task.c.tags).table_valued("value")
    tag = each.c.value
    return (
        sa.select(tag)
        .select_from(_task)
        .join(each, sa.true())
        .where(OF_USER)
        .group_by(tag)
        .order_by(sa.func.count().desc(), tag)
    )
