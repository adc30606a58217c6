"""The REST shapes: request bodies and query strings reuse the storage models, so REST, MCP and
the OpenAPI document all validate with the same rules."""

from __future__ import annotations

import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from storage.models import (
    MAX_ID,
    NoNul,
    PageLimit,
    PageOffset,
    SearchText,
    TaskCreate,
    TaskQuery,
    TaskUpdate,
    TaskView,
)

_DIGITS = re.compile(r"[0-9]+")
# More digits than any limit or offset needs; int() of thousands of digits raises.
_MAX_DIGITS = 20


def _query_integer(value: Any) -> Any:
    """A query-string integer written as ASCII digits only. Left to themselves int() and
    pydantic's lax mode also take `1_0`, `+5`, ` 5`, `1.0` and other scripts' digits."""
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be a whole number written with the digits 0-9")
        if len(value) > _MAX_DIGITS:
            raise ValueError("is far too large")
        return int(value)
    return value


QueryInteger = BeforeValidator(_query_integer)

# POST creates from these fields; PUT replaces with them (omitted ones back at their defaults).
TaskBody = TaskCreate
TaskPatch = TaskUpdate


class ListParams(TaskQuery):
    """`GET /tasks` query string; `q` is the REST name of the search text."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    query: SearchText = Field(default=None, alias="q")
    limit: Annotated[PageLimit, QueryInteger] = 100
    offset: Annotated[PageOffset, QueryInteger] = 0


class MessagePage(BaseModel):
    """`GET /conversations/{id}` query string: the last `limit` messages older than message
    `before` (all the newest when absent), newest last."""

    model_config = ConfigDict(extra="ignore")

    before: Annotated[int, Field(ge=1, le=MAX_ID), QueryInteger] | None = None
    limit: Annotated[int, Field(ge=1, le=200), QueryInteger] = 50


class TaskOut(TaskView):
    """A task as REST returns it (its version travels in the ETag header)."""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not blank, and no NUL anywhere (`\S` alone would take a NUL as the non-blank character).
    message: str = Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")
    conversation_id: Annotated[str, Field(min_length=1, max_length=64), NoNul] | None = None
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="the user's IANA time zone (e.g. Europe/Paris): the model's today is theirs",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            # `Europe` names a directory of the zone database: an OSError, not a zone.
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


def error_list(errors: list[Any], *prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"].removeprefix("Value error, ")} for e in errors
    ]
