"""Logs of a real `todo-api`: readable text by default, one JSON object per line with
`LOG_FORMAT=json`; one access line per request (uvicorn's own is off), and never a token,
a secret or task text."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import jwt

from http_adapter.log_config import JsonFormatter
from tests.support.processes import todo_api_process

SECRET = "a-secret-for-the-log-tests-0123456789abcdef"


def _token(user: str) -> str:
    return jwt.encode({"sub": user, "exp": 4_000_000_000}, SECRET, algorithm="HS256")


def test_json_lines_carry_the_record_and_its_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x.y", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info()
        )
    record.request_id = "r-1"
    record.status = 500

    line = JsonFormatter().format(record)

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed here"
    assert parsed["level"] == "ERROR"
    assert parsed["logger"] == "x.y"
    assert parsed["request_id"] == "r-1"
    assert parsed["status"] == 500
    assert "ValueError: boom" in parsed["exception"]


async def _exercise(base_url: str) -> tuple[str, str]:
    """A create, a read, a bad token; returns the token used and the create's request id."""
    token = _token("alice")
    async with httpx.AsyncClient(base_url=base_url) as client:
        created = await client.post(
            "/api/alice/tasks",
            json={"title": "Buy the anniversary present"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "create-1"},
        )
        assert created.status_code == 201, created.text
        await client.get(
            f"/api/alice/tasks/{created.json()['id']}", headers={"Authorization": f"Bearer {token}"}
        )
        refused = await client.get("/api/alice/tasks", headers={"Authorization": "Bearer junk"})
        assert refused.status_code == 401
    return token, created.headers["x-request-id"]


async def test_json_logs_are_one_object_per_line_with_one_access_line_per_request(
    tmp_path: Path,
) -> None:
    async with todo_api_process(
        tmp_path,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
        BETTER_AUTH_SECRET=SECRET,
        LOG_FORMAT="json",
    ) as server:
        await server.wait_until_serving()
        token, request_id = await _exercise(server.url)
        server.process.terminate()
        assert await server.wait_for_exit() == 0

    lines = [json.loads(line) for line in server.lines if line.strip()]
    access = [line for line in lines if line["logger"] == "http_adapter.access"]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("POST", "/api/{user_id}/tasks", 201),
        ("GET", "/api/{user_id}/tasks/{task_id}", 200),
        ("GET", "/api/{user_id}/tasks", 401),
    ]
    assert access[0]["request_id"] == request_id == "create-1"
    assert all(a["duration_ms"] >= 0 for a in access)
    assert "user" not in access[2]  # no verified user, nothing to hash
    assert access[0]["user"] != "alice"
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    everything = "\n".join(server.lines)
    for leak in (token, SECRET, "junk", "anniversary"):
        assert leak not in everything


async def test_text_logs_are_the_default(tmp_path: Path) -> None:
    async with todo_api_process(
        tmp_path,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
        BETTER_AUTH_SECRET=SECRET,
    ) as server:
        await server.wait_until_serving()
        _token_used, request_id = await _exercise(server.url)

    access = [line for line in server.lines if "http_adapter.access" in line]
    assert len(access) == 3
    assert f"[{request_id}] POST /api/{{user_id}}/tasks 201" in access[0]
    assert not any(line.startswith("{") for line in server.lines)
