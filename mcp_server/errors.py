"""Every failure a tool reports, as a `ToolError` whose text a model can act on.

Storage errors are mapped here and nowhere else. Each error also carries a `kind`, so an
in-process caller (the REST adapter) can choose its HTTP status without parsing the text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, ParamSpec, TypeVar

from fastmcp.exceptions import ToolError
from fastmcp.exceptions import ValidationError as FastMCPValidationError
from pydantic import ValidationError as PydanticValidationError

from storage.errors import (
    ConversationNotFoundError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    ListLimitError,
    ListNameTakenError,
    ListNotFoundError,
    ListVersionMismatchError,
    QuotaExceededError,
    RecurrenceNeedsDueDateError,
    StorageError,
    StorageUnavailableError,
    TaskNotFoundError,
    UnknownListError,
    VersionMismatchError,
)

log = logging.getLogger(__name__)

ErrorKind = Literal[
    "invalid_arguments",
    "not_found",
    "version_mismatch",
    "idempotency_key_reused",
    "idempotency_key_in_flight",
    "quota_exceeded",
    "list_name_taken",
    "list_limit_reached",
    "unavailable",
    "internal",
]


_LOG_LEVELS = {"internal": logging.ERROR, "unavailable": logging.WARNING}


class TaskToolError(ToolError):
    def __init__(self, kind: ErrorKind, message: str, *, details: Any = None) -> None:
        # A missing task or a bad argument is an answer to the model, not a server problem:
        # logged below fastmcp's default level, so stderr shows only what an operator must see.
        super().__init__(message, log_level=_LOG_LEVELS.get(kind, logging.DEBUG))
        self.kind = kind
        self.details = details


def from_storage_error(exc: StorageError) -> TaskToolError:
    match exc:
        case TaskNotFoundError():
            return TaskToolError(
                "not_found",
                f"Task {exc.task_id} not found. Use list_tasks (with query=... to search by "
                "title) to find the right id.",
            )
        case VersionMismatchError():
            return TaskToolError(
                "version_mismatch",
                f"Task {exc.task_id} has changed: it is at version {exc.actual}, not "
                f"{exc.expected}. Nothing was changed; fetch it with get_task and decide again.",
                details={"actual": exc.actual},
            )
        case IdempotencyKeyReusedError():
            return TaskToolError(
                "idempotency_key_reused",
                "This idempotency_key was already used to create a task with different "
                "arguments. Use a new key for a new task.",
            )
        case IdempotencyKeyInFlightError():
            return TaskToolError(
                "idempotency_key_in_flight",
                "A create with this idempotency_key is still in progress. Call add_task again "
                "with the same arguments in a moment to get its result.",
            )
        case QuotaExceededError():
            return TaskToolError(
                "quota_exceeded",
                f"The user already has {exc.quota} tasks, the most allowed. Nothing was added; "
                "completed or unneeded tasks can be deleted to make room.",
            )
        case ListNotFoundError():
            return TaskToolError(
                "not_found", f"List {exc.list_id} not found. Use list_lists to find its id."
            )
        case UnknownListError():
            return TaskToolError(
                "invalid_arguments",
                f"Invalid arguments. list_id: {exc.list_id} is not one of the user's lists; "
                "use list_lists to find the id, or add_list to make the list first.",
                details=[{"loc": ["list_id"], "msg": "not one of the user's lists"}],
            )
        case ListVersionMismatchError():
            return TaskToolError(
                "version_mismatch",
                f"List {exc.list_id} has changed: it is at version {exc.actual}, not "
                f"{exc.expected}. Nothing was changed; read it again with list_lists.",
                details={"actual": exc.actual},
            )
        case ListNameTakenError():
            return TaskToolError(
                "list_name_taken",
                f"A list named {exc.name!r} already exists (names ignore case). Use that list, "
                "or choose another name.",
            )
        case ListLimitError():
            return TaskToolError(
                "list_limit_reached",
                f"The user already has {exc.limit} lists, the most allowed. Nothing was added; "
                "an unneeded list can be deleted to make room.",
            )
        case RecurrenceNeedsDueDateError():
            return TaskToolError(
                "invalid_arguments",
                f"Invalid arguments. due_date: task {exc.task_id} repeats, so it needs a due "
                "date; give one, or clear recurrence too.",
                details=[{"loc": ["due_date"], "msg": "a recurring task needs a due date"}],
            )
        case ConversationNotFoundError():
            return TaskToolError("not_found", "Conversation not found.")
        case StorageUnavailableError():
            return TaskToolError(
                "unavailable", "The task store is unavailable right now. Try again shortly."
            )
        case _:
            return TaskToolError("internal", "The task store failed to do this. Try again.")


P = ParamSpec("P")
R = TypeVar("R")


def reports_storage_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Let a tool raise storage errors and have them reach the model as tool errors."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except StorageError as exc:
            raise from_storage_error(exc) from exc
        except PydanticValidationError as exc:
            raise invalid_arguments(exc) from exc

    return wrapper


def invalid_arguments(exc: PydanticValidationError) -> TaskToolError:
    """One line per bad argument, naming it and saying what is wrong."""
    problems = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "unexpected_keyword_argument":
            hint = "not an argument of this tool"
            if name == "user_id":
                hint += " (the user is fixed by the connection and cannot be chosen)"
            problems.append(f"{name}: {hint}")
        elif error["type"] == "missing_argument":
            problems.append(f"{name}: required")
        else:
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return TaskToolError(
        "invalid_arguments",
        "Invalid arguments. " + "; ".join(problems) + ".",
        details=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()],
    )


def rejected_arguments(exc: FastMCPValidationError) -> TaskToolError:
    """fastmcp's argument-validation failure as one readable tool error."""
    cause = exc.__cause__
    if isinstance(cause, PydanticValidationError):
        return invalid_arguments(cause)
    return TaskToolError("invalid_arguments", "Invalid arguments.")
