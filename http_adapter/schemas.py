"""The REST shapes: request bodies and query strings reuse the storage models, so REST, MCP and
the OpenAPI document all validate with the same rules."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from storage.models import (
    MAX_ID,
    ListId,
    ListView,
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


# What each query parameter of `GET /tasks` does, for the API's readers (in /docs).
QUERY_DESCRIPTIONS = {
    "status": "`pending`, `completed`, or `all` (the default)",
    "q": "words to find in the title or description (case-insensitive)",
    "priority": "only tasks of this priority",
    "tag": "only tasks carrying this tag",
    "due_before": "only tasks due on or before this date (YYYY-MM-DD)",
    "due_after": "only tasks due on or after this date (YYYY-MM-DD)",
    "sort": "the order of the page; `created_at` (oldest first) by default",
    "list_id": "only tasks of this list (an id), or `none` for tasks in no list (the inbox)",
    "limit": "tasks per page, 1 to 500 (default 100)",
    "offset": "tasks to skip before the page starts (default 0)",
}


def _describe_query(schema: dict[str, Any]) -> None:
    for name, text in QUERY_DESCRIPTIONS.items():
        schema["properties"][name]["description"] = text


def _list_filter(value: Any) -> Any:
    """`list_id=none` (tasks in no list) or a list id in digits."""
    return value if value == "none" else _query_integer(value)


class ListParams(TaskQuery):
    """`GET /tasks` query string; `q` is the REST name of the search text."""

    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, json_schema_extra=_describe_query
    )

    query: SearchText = Field(default=None, alias="q")
    list_id: Annotated[ListId | Literal["none"] | None, BeforeValidator(_list_filter)] = None
    limit: Annotated[PageLimit, QueryInteger] = 100
    offset: Annotated[PageOffset, QueryInteger] = 0


class MessagePage(BaseModel):
    """`GET /conversations/{id}` query string: the last `limit` messages older than message
    `before` (all the newest when absent), newest last."""

    model_config = ConfigDict(extra="ignore")

    before: (
        Annotated[
            int,
            Field(
                ge=1,
                le=MAX_ID,
                description="only messages older than this message id (the first id of the "
                "page shown, to go back further)",
            ),
            QueryInteger,
        ]
        | None
    ) = None
    limit: Annotated[
        int,
        Field(ge=1, le=200, description="how many of the newest messages (default 50)"),
        QueryInteger,
    ] = 50


class TaskOut(TaskView):
    """A task as REST returns it (its version travels in the ETag header)."""


class ListOut(ListView):
    """A list as REST returns it (its version travels in the ETag header)."""


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


# --- answers: the routes build them with these models, and the document describes them ---


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error (RFC 9457). `errors` lists each invalid field on 422."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ValidationErrorItem] | None = None


class ToolCallRecord(BaseModel):
    """One tool call the agent made: its result, or `{"error": ...}` if it failed."""

    name: str
    arguments: dict[str, Any]
    result: Any


class ChatUsage(BaseModel):
    """Tokens the turn's model calls reported, summed."""

    input_tokens: int
    output_tokens: int
    model_calls: int


class ChatAnswer(BaseModel):
    conversation_id: str
    response: str
    tool_calls: list[ToolCallRecord]
    usage: ChatUsage


class Root(BaseModel):
    message: str
    version: str


class Health(BaseModel):
    status: str = Field(examples=["ok", "unavailable"])
    database: str = Field(examples=["ok", "unreachable"])


class Liveness(BaseModel):
    status: Literal["ok"]


def error_list(errors: list[Any], *prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"].removeprefix("Value error, ")} for e in errors
    ]
