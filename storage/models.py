"""Tables and the shapes of data going in and out of them.

`Task`, `TaskList`, `TaskCount`, `Conversation`, `Message`, `IdempotencyRecord` and `RateWindow`
are the tables.
`TaskCreate`, `TaskUpdate`, `TaskQuery` are validated input; `TaskView`, `TaskPublic` (with the
version) and `TaskPage` are what callers get back. The input models carry the product's limits,
so that every edge (MCP tools, REST) validates with the same rules.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlmodel import Column, SQLModel
from sqlmodel import Field as ColumnField

from storage.recurrence import MAX_RULE, RuleError, normalize
from storage.types import FoldedText, TagList, UTCDateTime

MAX_TITLE = 200
# Ids and offsets are PostgreSQL integers: nothing larger can name or skip a task.
MAX_ID = 2**31 - 1
# User ids and idempotency keys are stored in columns of this width.
MAX_KEY = 255
MAX_DESCRIPTION = 1000
MAX_TAGS = 10
MAX_TAG = 32
MAX_LIST_NAME = 100
# Lists a user may have: enough for any way of sorting tasks into projects, and a bound on
# what one listing of lists reads.
MAX_LISTS = 200


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


# Rank used for sorting: low < medium < high.
PRIORITY_RANK = {Priority.low: 0, Priority.medium: 1, Priority.high: 2}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Accept only `YYYY-MM-DD` strings (and dates), not timestamps or datetimes."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a real calendar date") from None
    raise ValueError("must be a date written as YYYY-MM-DD")


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def no_nul(text: str) -> str:
    # PostgreSQL cannot store or compare U+0000 in text or jsonb (SQLite can): refuse it on both
    # alike, as bad input, rather than fail in the database on one backend only.
    if "\x00" in text:
        raise ValueError("must not contain the NUL character (U+0000)")
    return text


# Every string that can reach the database carries this; the OpenAPI document recognises it and
# describes the refusal as a pattern (http_adapter.openapi).
NoNul = AfterValidator(no_nul)


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def fold(text: str) -> str:
    """The case-insensitive form used for search and title sorting, for all of Unicode."""
    return text.casefold()


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE),
    NoNul,
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION), NoNul]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG),
    NoNul,
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique)]
DueDate = Annotated[date, BeforeValidator(_iso_date)]


def _rule(value: str) -> str:
    # A bound before parsing, kept out of the schema (where every tool list would carry it).
    if len(value) > 2 * MAX_RULE:
        raise ValueError(f"must be at most {MAX_RULE} characters")
    try:
        return normalize(value)
    except RuleError as exc:
        raise ValueError(str(exc)) from None


# An RFC 5545 RRULE value in the supported subset (storage.recurrence), stored canonical.
Recurrence = Annotated[str, NoNul, AfterValidator(_rule)]
ListName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LIST_NAME),
    NoNul,
]
ListId = Annotated[int, Field(ge=1, le=MAX_ID)]
# An idempotency key as the tools and the REST header take it.
IdempotencyKeyText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY), NoNul]
# Search text; blank means no search at all.
SearchText = Annotated[
    Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=MAX_TITLE),
        NoNul,
    ]
    | None,
    BeforeValidator(_blank_to_none),
]
PageLimit = Annotated[int, Field(ge=1, le=500)]
PageOffset = Annotated[int, Field(ge=0, le=MAX_ID)]
StatusFilter = Literal["all", "pending", "completed"]
SortKey = Literal[
    "created_at",
    "-created_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
    "completed_at",
    "-completed_at",
]


# --- tables -------------------------------------------------------------------------------


class Task(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (
        sa.Index("ix_task_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_task_user_due", "user_id", "due_date"),
        # One list's tasks, in the default order, without reading the user's other tasks.
        sa.Index("ix_task_user_list", "user_id", "list_id", "created_at", "id"),
        sa.CheckConstraint("priority IN ('low', 'medium', 'high')", name="ck_task_priority"),
        # Ids are never reused, so an old ETag can never match a new task.
        {"sqlite_autoincrement": True},
    )

    id: int | None = ColumnField(default=None, primary_key=True)
    user_id: str = ColumnField(max_length=MAX_KEY)
    title: str = ColumnField(max_length=MAX_TITLE)
    title_key: str = ColumnField(sa_column=Column(FoldedText, nullable=False))
    description: str | None = ColumnField(default=None, sa_column=Column(sa.Text))
    description_key: str | None = ColumnField(default=None, sa_column=Column(FoldedText))
    completed: bool = False
    priority: str = ColumnField(default=Priority.medium.value, max_length=6)
    due_date: date | None = None
    tags: list[str] = ColumnField(default_factory=list, sa_column=Column(TagList(), nullable=False))
    version: int = 1
    created_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))
    # The user's own list (storage.lists checks it in the write's transaction); null: inbox.
    list_id: int | None = None
    recurrence: str | None = ColumnField(default=None, max_length=MAX_RULE)
    completed_at: datetime | None = ColumnField(default=None, sa_column=Column(UTCDateTime))
    # The occurrence that completing this recurring task created: a task completes into at
    # most one successor, however often it is reopened and completed again.
    next_id: int | None = None


class TaskList(SQLModel, table=True):
    """A user's list (project) of tasks; `name_key` makes names unique ignoring case."""

    __tablename__ = "list"
    __table_args__ = (
        sa.Index("ux_list_user_name", "user_id", "name_key", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: int | None = ColumnField(default=None, primary_key=True)
    user_id: str = ColumnField(max_length=MAX_KEY)
    name: str = ColumnField(max_length=MAX_LIST_NAME)
    name_key: str = ColumnField(sa_column=Column(FoldedText, nullable=False))
    version: int = 1
    created_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (sa.Index("ix_conversation_user_updated", "user_id", "updated_at"),)

    id: str = ColumnField(primary_key=True, max_length=36)
    user_id: str = ColumnField(max_length=MAX_KEY)
    title: str = ColumnField(max_length=MAX_TITLE)
    created_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))
    # The lease of the chat turn running in this conversation (one at a time, whichever
    # process runs it); it lapses at `turn_lease_until` should that process die mid-turn.
    turn_lease: str | None = ColumnField(default=None, max_length=36, nullable=True)
    turn_lease_until: datetime | None = ColumnField(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (sa.Index("ix_message_conversation", "conversation_id", "id"),)

    id: int | None = ColumnField(default=None, primary_key=True)
    conversation_id: str = ColumnField(
        sa_column=Column(
            sa.String(36), sa.ForeignKey("conversation.id", ondelete="CASCADE"), nullable=False
        )
    )
    role: str = ColumnField(max_length=16)
    content: str = ColumnField(sa_column=Column(sa.Text, nullable=False))
    tool_calls: list[dict[str, Any]] | None = ColumnField(default=None, sa_column=Column(sa.JSON))
    created_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))
    # An assistant message's turn as the model saw it (contents in order, shrunk) and any
    # action awaiting the user's confirmation: the agent's own record, never shown to clients.
    turn: dict[str, Any] | None = ColumnField(default=None, sa_column=Column(sa.JSON))


class IdempotencyRecord(SQLModel, table=True):
    """A create that carried an idempotency key: claimed (no `response` yet) while it runs,
    then its first answer, replayed for 24 hours. The claim is what tells a concurrent
    request, in any process, that the first is still in flight."""

    __tablename__ = "idempotency_key"

    user_id: str = ColumnField(primary_key=True, max_length=MAX_KEY)
    key: str = ColumnField(primary_key=True, max_length=MAX_KEY)
    request_hash: str = ColumnField(max_length=64)
    response: dict[str, Any] | None = ColumnField(
        default=None, sa_column=Column(sa.JSON(none_as_null=True), nullable=True)
    )
    created_at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))


class TaskCount(SQLModel, table=True):
    """How many tasks a user has: kept with every create and delete, so that a create can
    check the quota and count itself in one atomic step (see `storage.tasks`)."""

    __tablename__ = "task_count"

    user_id: str = ColumnField(primary_key=True, max_length=MAX_KEY)
    tasks: int
    # Their lists, kept the same way for the list limit.
    lists: int = ColumnField(
        default=0, sa_column=Column(sa.Integer, nullable=False, server_default="0")
    )


class RateWindow(SQLModel, table=True):
    """How many times a user did something limited (`scope`, e.g. a chat turn) in the window
    that started at `window_start` (seconds since the epoch): one row per user and scope,
    shared by every process serving the database (see `storage.limits`)."""

    __tablename__ = "rate_window"

    scope: str = ColumnField(primary_key=True, max_length=32)
    user_id: str = ColumnField(primary_key=True, max_length=MAX_KEY)
    window_start: float = ColumnField(sa_column=Column(sa.Float, nullable=False))
    hits: int


# --- input and output ------------------------------------------------------------------------


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    priority: Priority = Priority.medium
    due_date: DueDate | None = None
    tags: Tags = Field(default_factory=list)
    completed: StrictBool = False
    list_id: ListId | None = None
    recurrence: Recurrence | None = None

    @model_validator(mode="after")
    def _recurring_needs_due_date(self) -> TaskCreate:
        if self.recurrence is not None and self.due_date is None:
            raise ValueError(RECURRENCE_NEEDS_DUE_DATE)
        return self


RECURRENCE_NEEDS_DUE_DATE = (
    "a recurring task needs a due_date: its first occurrence (give one, or leave recurrence out)"
)


class TaskUpdate(BaseModel):
    """A partial change: fields left out stay as they are; `None` clears description/due_date."""

    model_config = ConfigDict(extra="forbid")

    title: Title | MISSING = MISSING
    description: Description | MISSING | None = MISSING
    priority: Priority | MISSING = MISSING
    due_date: DueDate | MISSING | None = MISSING
    tags: Tags | MISSING = MISSING
    completed: StrictBool | MISSING = MISSING
    list_id: ListId | MISSING | None = MISSING
    recurrence: Recurrence | MISSING | None = MISSING

    @model_validator(mode="after")
    def _recurring_needs_due_date(self) -> TaskUpdate:
        # Against the task as stored, the repository checks it again.
        given = self.model_fields_set
        if {"recurrence", "due_date"} <= given and self.recurrence and self.due_date is None:
            raise ValueError(RECURRENCE_NEEDS_DUE_DATE)
        return self

    def changes(self) -> dict[str, Any]:
        """The fields that were given, with their new values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StatusFilter = "all"
    query: SearchText = None
    priority: Priority | None = None
    tag: Tag | None = None
    due_before: DueDate | None = None
    due_after: DueDate | None = None
    list_id: ListId | Literal["none"] | None = None
    sort: SortKey = "created_at"
    limit: PageLimit = 100
    offset: PageOffset = 0

    @field_validator("due_after")
    @classmethod
    def _not_after_due_before(cls, value: date | None, info: ValidationInfo) -> date | None:
        # A range that ends before it starts matches nothing: say so instead of an empty list.
        due_before = info.data.get("due_before")
        if value is not None and due_before is not None and value > due_before:
            raise ValueError(f"must not be later than due_before ({due_before.isoformat()})")
        return value


class TaskView(BaseModel):
    """A task as people see it."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    priority: Priority
    due_date: date | None
    tags: list[str]
    list_id: int | None
    recurrence: str | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


# A task as the repository and the tools return it: with its version. (A comment, not a
# docstring: a docstring would become the description in every tool's output schema.)
class TaskPublic(TaskView):
    version: int = Field(description="Give as expected_version to guard a later write.")


# A task as a write that may complete it returns it: with the next occurrence of a recurring
# task that this completion created.
class TaskResult(TaskPublic):
    # The next occurrence this call created, if it completed a recurring task; left out of
    # results that created none, which are then the task exactly as get_task returns it.
    next_task_id: int | None = Field(default=None, exclude_if=lambda value: value is None)


def as_result(task: TaskPublic) -> TaskResult:
    """`task` as a write's result (a `TaskResult` already is one; a plain task named none)."""
    if isinstance(task, TaskResult):
        return task
    # Built without validating again: the task was validated when it was made.
    return TaskResult.model_construct(**dict(task))


class TaskPage(BaseModel):
    tasks: list[TaskPublic]
    total: int = Field(description="How many tasks match the filters, ignoring limit/offset.")


class ListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ListName


class ListUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ListName | MISSING = MISSING


class ListView(BaseModel):
    """A list as people see it."""

    id: int
    name: str
    open_count: int = Field(description="Its tasks not done yet.")
    created_at: datetime
    updated_at: datetime


class ListPublic(ListView):
    version: int


class ListPage(BaseModel):
    lists: list[ListPublic]


# The change log's tables (their own module) go on the same metadata as these.
from storage import change_tables as _change_tables  # noqa: E402, F401
