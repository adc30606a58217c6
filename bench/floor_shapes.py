"""The floor's request shapes (`bench/floor.py`): pydantic models with the same limits as
todo-api's, so the floor validates as much as the product does."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

MAX_TASK_ID = 2**31 - 1

# --- validation: the same limits as todo-api's models ------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a real calendar date") from None
    raise ValueError("must be a date written as YYYY-MM-DD")


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain the NUL character (U+0000)")
    return text


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_no_nul)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(_no_nul),
]
Tags = Annotated[list[Tag], Field(max_length=10), AfterValidator(_unique)]
DueDate = Annotated[date, BeforeValidator(_iso_date)]
Priority = Literal["low", "medium", "high"]
SortKey = Literal[
    "created_at",
    "-created_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
]
SearchText = Annotated[
    Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_nul)
    ]
    | None,
    BeforeValidator(_blank_to_none),
]


class TaskBody(BaseModel):
    """POST and PUT bodies."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    priority: Priority = "medium"
    due_date: DueDate | None = None
    tags: Tags = Field(default_factory=list)
    completed: StrictBool = False


_NOT_NULLABLE = ("title", "priority", "tags", "completed")


class TaskPatch(BaseModel):
    """PATCH bodies: the fields given are the change; `null` clears description/due_date."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_date: DueDate | None = None
    tags: Tags | None = None
    completed: StrictBool | None = None

    @model_validator(mode="after")
    def _null_only_where_allowed(self) -> TaskPatch:
        for name in _NOT_NULLABLE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class ListParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["all", "pending", "completed"] = "all"
    q: SearchText = None
    priority: Priority | None = None
    tag: Tag | None = None
    due_before: DueDate | None = None
    due_after: DueDate | None = None
    sort: SortKey = "created_at"
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_TASK_ID)
