"""What a chat turn reports as it runs, and how it fails: kept apart from the model client so
that the HTTP layer can use them without importing the SDK."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


class ModelError(Exception):
    """The model could not be asked; `status` is the HTTP answer for it."""

    def __init__(
        self, status: int, detail: str, *, retry_after: int | None = None, outcome: str = "error"
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.outcome = outcome  # as a `ModelCall` reports it


@dataclass(frozen=True)
class ToolCallEvent:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResultEvent:
    id: str
    name: str
    outcome: dict[str, Any]  # {"result": ...} or {"error": "..."}, as the model gets it


@dataclass(frozen=True)
class DeltaEvent:
    text: str


@dataclass(frozen=True)
class DoneEvent:
    answer: dict[str, Any]


@dataclass(frozen=True)
class ProposalEvent:
    """A delete the model proposed: carried out only if the user confirms it next."""

    id: str  # the function call id of the proposed delete
    proposals: list[dict[str, Any]]  # each {"task_id": int, "title": str, "version": str}


Event = ToolCallEvent | ToolResultEvent | DeltaEvent | DoneEvent | ProposalEvent
Emit = Callable[[Event], Awaitable[None]]
