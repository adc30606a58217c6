"""The REST shapes: request bodies and query strings reuse the storage models, so REST, MCP and
the OpenAPI document all validate with the same rules."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage.models import SearchText, TaskCreate, TaskQuery, TaskUpdate, TaskView

# POST creates from these fields; PUT replaces with them (omitted ones back at their defaults).
TaskBody = TaskCreate
TaskPatch = TaskUpdate


class ListParams(TaskQuery):
    """`GET /tasks` query string; `q` is the REST name of the search text."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    query: SearchText = Field(default=None, alias="q")


class TaskOut(TaskView):
    """A task as REST returns it (its version travels in the ETag header)."""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*\S[^\x00]*$")
    conversation_id: str | None = Field(default=None, min_length=1, max_length=64)
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
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


def error_list(errors: list[Any], prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *e["loc"]], "msg": e["msg"].removeprefix("Value error, ")} for e in errors
    ]
