"""Errors as `application/problem+json` (RFC 9457), from one table of statuses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from mcp_server.errors import ErrorKind

PROBLEM_JSON = "application/problem+json"

# How each kind of tool error is answered over HTTP.
STATUS_OF_KIND: dict[ErrorKind, int] = {
    "invalid_arguments": 422,
    "not_found": 404,
    "version_mismatch": 412,
    "idempotency_key_reused": 422,
    "idempotency_key_in_flight": 409,
    "quota_exceeded": 409,
    "list_name_taken": 409,
    "list_limit_reached": 409,
    "unavailable": 503,
    "internal": 500,
}


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
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is None and status == 422:
        # Every 422 lists what is wrong (the README promises it), if only as the detail.
        errors = [{"loc": [], "msg": detail}]
    if errors is not None:
        body["errors"] = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]
    return body


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
