"""The floor's HTTP pieces (`bench/floor.py`): problems, the task JSON and its ETag, reading
and validating a body, path and header parsing: what todo-api's adapter does, in plain code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ValidationError,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bench.floor_shapes import MAX_TASK_ID

MAX_BODY_BYTES = 64 * 1024
PROBLEM_JSON = "application/problem+json"
CHALLENGE = 'Bearer realm="todo-mcp"'


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return Response(
            json.dumps(body), self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


def unauthorized(detail: str, *, invalid: bool = True) -> Problem:
    challenge = f'{CHALLENGE}, error="invalid_token"' if invalid else CHALLENGE
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


def _error_list(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *e["loc"]], "msg": e["msg"].removeprefix("Value error, ")}
        for e in exc.errors(include_url=False)
    ]


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def task_json(row: Any) -> dict[str, Any]:
    due = row["due_date"]
    completed_at = row["completed_at"]
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "title": row["title"],
        "description": row["description"],
        "completed": row["completed"],
        "priority": row["priority"],
        "due_date": None if due is None else due.isoformat(),
        "tags": row["tags"],
        "list_id": row["list_id"],
        "recurrence": row["recurrence"],
        "completed_at": None if completed_at is None else _rfc3339(completed_at),
        "created_at": _rfc3339(row["created_at"]),
        "updated_at": _rfc3339(row["updated_at"]),
    }


def etag_of(row: Any) -> str:
    return f'"{row["version"]}"'


def task_response(
    row: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(task_json(row), status, headers={"ETag": etag_of(row), **(headers or {})})


def expected_version(request: Request) -> int | None:
    """The version a strong ETag in If-Match names; 0 (matches nothing) for any other tag."""
    if_match = request.headers.get("if-match")
    if if_match is None or if_match.strip() == "*":
        return None
    match = re.fullmatch(r'"(\d+)"', if_match.strip())
    return int(match.group(1)) if match else 0


def none_match(request: Request, etag: str) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


async def json_body(request: Request) -> Any:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise Problem(415, "The request body must be JSON (Content-Type: application/json).")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, "The request body is larger than 64 KiB.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "The request body is larger than 64 KiB.")
    try:
        return json.loads(body)
    except ValueError:
        raise Problem(400, "The request body is not valid JSON.") from None


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        title = (
            "Invalid query parameters." if where == "query" else "The request body is not valid."
        )
        raise Problem(422, title, errors=_error_list(exc, where)) from None


def parse_task_id(request: Request) -> int:
    task_id: int = request.path_params["task_id"]
    if not 1 <= task_id <= MAX_TASK_ID:
        raise Problem(404, f"Task {task_id} not found.")
    return task_id
