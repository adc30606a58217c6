"""What a route declares about itself: its method and path, what it takes and what it answers.

An `Operation` is both halves of a route: `route_table.starlette_routes` serves it with the
handler bound to it, and `openapi.build_openapi` describes it. Neither is written anywhere else,
so the two cannot drift apart. The table of every operation is `route_table.ROUTES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Header:
    """A header a request may send, or an answer carries. `type_` is any type pydantic can
    describe (`str`, `int`, an `Annotated` text with its rules)."""

    name: str
    description: str = ""
    type_: Any = str


@dataclass(frozen=True)
class Answer:
    """A successful answer. Its JSON body is `model` (a list of them if `many`), or the raw
    JSON Schema `schema`, or nothing."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    many: bool = False
    schema: Mapping[str, Any] | None = None
    headers: tuple[Header, ...] = ()
    # Also answered as Server-Sent Events, for a client that accepts `text/event-stream`.
    event_stream: bool = False
    # OpenAPI links from this answer to other operations, by link name.
    links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Error:
    """A problem+json answer the operation can give, and when."""

    status: int
    description: str
    headers: tuple[Header, ...] = ()
    # A protocol's own error form (JSON of this schema) instead of problem+json.
    schema: Mapping[str, Any] | None = None


# Identity, not equality: an operation is the key its handler is bound under.
@dataclass(frozen=True, eq=False)
class Operation:
    """One method on one path.

    `body` validates the JSON request body and `query` the query string (one parameter per
    field, by alias); `errors` are listed in order, a later one replacing an earlier one of the
    same status (so a shared group can be refined). `public` operations need no token.
    """

    method: str
    path: str
    summary: str
    answers: tuple[Answer, ...]
    errors: tuple[Error, ...] = ()
    operation_id: str | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    public: bool = False
