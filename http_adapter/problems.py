"""Errors as `application/problem+json` (RFC 9457): the one place that says which status and
which words each failure gets over HTTP (tool errors, storage errors, the chat's own)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from http_adapter.schemas import Problem, ValidationErrorItem
from mcp_server.errors import ErrorKind, TaskToolError
from storage.errors import ConversationNotFoundError, StorageError, StorageUnavailableError

PROBLEM_JSON = "application/problem+json"


class HTTPProblem(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})


def problem_body(
    status: int, detail: str, errors: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    if errors is None and status == 422:
        # Every 422 lists what is wrong (the README promises it), if only as the detail.
        errors = [{"loc": [], "msg": detail}]
    problem = Problem(
        type="about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=None
        if errors is None
        else [ValidationErrorItem(loc=list(e["loc"]), msg=e["msg"]) for e in errors],
    )
    return problem.model_dump(exclude_none=True)


# Also on the answers made outside the middleware (an unhandled error's 500).
_PROBLEM_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def problem_response(problem: HTTPProblem) -> Response:
    body = problem_body(problem.status, problem.detail, problem.errors)
    return Response(
        json.dumps(body),
        status_code=problem.status,
        headers={**_PROBLEM_HEADERS, **problem.headers},
        media_type=PROBLEM_JSON,
    )


@dataclass(frozen=True)
class _KindAnswer:
    status: int
    # A template over the call's arguments; None: the tool's own text.
    detail: str | None = None
    # Where the fault lies, for a 422 that is not about the tool's arguments.
    errors: tuple[Mapping[str, Any], ...] | None = None


# How each kind of tool error is answered over HTTP. The tool's text advises a model which tool
# to call next; an HTTP client gets the plain fact instead, where the two differ.
TOOL_ERRORS: dict[ErrorKind, _KindAnswer] = {
    "invalid_arguments": _KindAnswer(422),
    "not_found": _KindAnswer(404, "Task {task_id} not found."),
    "version_mismatch": _KindAnswer(
        412, "The task has changed since the ETag given in If-Match; nothing changed."
    ),
    "idempotency_key_reused": _KindAnswer(
        422,
        "This Idempotency-Key was already used with a different body.",
        ({"loc": ["header", "Idempotency-Key"], "msg": "already used with a different body"},),
    ),
    "idempotency_key_in_flight": _KindAnswer(
        409, "A request with this Idempotency-Key is still in progress."
    ),
    "quota_exceeded": _KindAnswer(409),
    "list_name_taken": _KindAnswer(409),
    "list_limit_reached": _KindAnswer(409),
    "unavailable": _KindAnswer(503),
    "internal": _KindAnswer(500),
}


# The same for the list routes' calls (they name a list_id and no task_id).
LIST_ERRORS: dict[ErrorKind, _KindAnswer] = {
    "not_found": _KindAnswer(404, "List {list_id} not found."),
    "version_mismatch": _KindAnswer(
        412, "The list has changed since the ETag given in If-Match; nothing changed."
    ),
}


def tool_problem(exc: TaskToolError, arguments: Mapping[str, Any]) -> HTTPProblem:
    """A tool error of a call made with `arguments`, as an HTTP problem."""
    about_list = "list_id" in arguments and "task_id" not in arguments
    answer = (LIST_ERRORS.get(exc.kind) if about_list else None) or TOOL_ERRORS[exc.kind]
    errors = exc.details if exc.kind == "invalid_arguments" else answer.errors
    detail = answer.detail.format_map(arguments) if answer.detail else str(exc)
    return HTTPProblem(answer.status, detail, errors=errors)


def storage_problem(exc: StorageError) -> HTTPProblem:
    """A storage error of a route that reaches storage directly (the conversations), as an HTTP
    problem: for JSON answers and for the `error` event of a stream alike."""
    if isinstance(exc, ConversationNotFoundError):
        return HTTPProblem(404, "Conversation not found.")
    if isinstance(exc, StorageUnavailableError):
        return HTTPProblem(503, "The database is unavailable right now.")
    return HTTPProblem(500, "The database failed to do this.")


NO_CHAT = "Chat is not configured on this server: set GEMINI_API_KEY to enable it."
TOO_MANY_CHAT_MESSAGES = "Too many chat messages; wait a moment before sending another."
SHUTTING_DOWN = HTTPProblem(503, "The server is shutting down; send the message again.")
CHAT_TURN_FAILED = "The chat turn failed unexpectedly."
CONVERSATION_BUSY = (
    "This conversation is still answering an earlier message; send this one again when that "
    "answer is done."
)
