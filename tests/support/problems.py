"""Answers that must not leak internals: REST problem documents and MCP tool-error texts."""

from __future__ import annotations

from typing import Any

import httpx

# Lower-case fragments that only a leaked exception, query, driver name or secret would bring
# into an answer meant for a client or a model.
LEAKS = (
    "traceback",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "sqlite",
    "select ",
    "insert ",
    "secret",
)


def assert_no_leak(text: str) -> None:
    lowered = text.lower()
    for leak in LEAKS:
        assert leak not in lowered, text


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is a problem document with `status` that leaks nothing; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert_no_leak(response.text)
    return body
