"""No client can shape the log of a real `todo-api`: every logger (ours, fastmcp's, uvicorn's,
alembic's) writes one record per line, a traceback inside its record, and a tool name or
resource URI laid out to look like a record of its own stays inside the one that quotes it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.support.api import MCP_HEADERS
from tests.support.processes import ServerProcess, todo_api_process

SECRET = "a-secret-for-the-log-line-tests-0123456789abcdef"
FORGED = '{"level":"CRITICAL","logger":"forged","message":"forged"}'
FORGED_TEXT = "2026-01-01 00:00:00,000 CRITICAL forged [-] forged"
# Each ends a line early, in one reader or another, before the forged record.
BREAKS = ["\n", "\r\n", "\u2028", "\x85", "\x00\n"]


async def hostile_mcp_calls(server: ServerProcess) -> None:
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, SECRET, algorithm="HS256")
    headers = MCP_HEADERS | {"Authorization": f"Bearer {token}"}

    def message(method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for forged in (FORGED, FORGED_TEXT):
            for line_break in BREAKS:
                calls = [
                    message("resources/read", {"uri": "tasks://task/999999"}),
                    message("resources/read", {"uri": f"tasks://x{line_break}{forged}"}),
                    message(
                        "tools/call", {"name": f"list_tasks{line_break}{forged}", "arguments": {}}
                    ),
                ]
                for call in calls:
                    answer = await client.post("/mcp", json=call, headers=headers)
                    assert answer.status_code < 500, answer.text


async def run_and_stop(tmp_path: Path, **settings: str) -> list[str]:
    async with todo_api_process(
        tmp_path,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
        BETTER_AUTH_SECRET=SECRET,
        **settings,
    ) as server:
        await server.wait_until_serving()
        await hostile_mcp_calls(server)
        server.process.terminate()
        assert await server.wait_for_exit() == 0
    return server.lines


async def test_json_logs_are_one_object_per_line_whatever_a_client_sends(tmp_path: Path) -> None:
    lines = await run_and_stop(tmp_path, LOG_FORMAT="json")

    records = [json.loads(line) for line in lines if line]
    assert all(isinstance(record, dict) for record in records)
    loggers = {record["logger"].split(".")[0] for record in records}
    assert {"http_adapter", "uvicorn", "alembic", "fastmcp"} <= loggers, loggers
    # The missing resource's traceback is inside its record, not on lines of its own.
    assert any("exception" in r for r in records if r["logger"].startswith("fastmcp"))
    assert not [r for r in records if r["level"] == "CRITICAL" or r["logger"] == "forged"]
    assert not [line for line in lines if "\x00" in line or "\u2028" in line or "\x85" in line]


# A record's first line: the time, a level, a logger; anything else is a traceback's line.
_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+ \[")


async def test_text_logs_escape_what_a_client_sends(tmp_path: Path) -> None:
    lines = await run_and_stop(tmp_path)

    strays = [line for line in lines if line and not _RECORD.match(line)]
    assert all(line.startswith("    | ") for line in strays), strays[:5]
    assert not [line for line in lines if line.startswith(FORGED_TEXT)]
    assert not [line for line in lines if "\x00" in line or "\u2028" in line or "\x85" in line]
