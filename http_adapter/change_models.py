"""What delta sync and the event stream take and answer: the models the change routes validate
their query with and build their answers from, and that the OpenAPI document describes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from http_adapter.schemas import TaskOut

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_SINCE = "The `next` of the last answer, or a task list's X-Changes-Next; 0 for all kept"


class ChangeOut(BaseModel):
    """A task write. `task` is the task as REST serves it, null when deleted; `version` is the
    value behind its ETag (for a delete, the last one)."""

    seq: int = Field(ge=0, description="The server's change number; only grows")
    op: Literal["created", "updated", "deleted"]
    task_id: int
    version: int
    task: TaskOut | None
    at: datetime


class ChangePageOut(BaseModel):
    """Changes in seq order; keep `next` and ask again (at once while `more`)."""

    changes: list[ChangeOut]
    next: int = Field(ge=0)
    more: bool


class ChangesQuery(BaseModel):
    """`GET /changes` query string."""

    since: int = Field(ge=0, description=_SINCE)
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="changes per answer at most"
    )


class EventsQuery(BaseModel):
    """`GET /events` query string (`Last-Event-ID`, when sent, wins)."""

    since: int | None = Field(
        default=None, ge=0, description=_SINCE + "; without it, only what comes next"
    )
