"""SIGTERM during a JSON (non-streamed) chat turn: the turn ends when the grace period does,
with a problem naming its conversation (no traceback), and what it did is recorded before the
process closes its database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import httpx
import jwt

from tests.support.fake_gemini import FakeGemini, Hang, call
from tests.support.processes import todo_api_process

SECRET = "a-secret-for-the-shutdown-tests-0123456789abcdef"


def _token(user: str) -> str:
    return jwt.encode({"sub": user, "exp": 4_000_000_000}, SECRET, algorithm="HS256")


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


async def test_sigterm_ends_a_json_chat_turn_with_a_problem_and_keeps_its_record(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "todo.db"
    with FakeGemini() as fake:
        # The model adds a task, then never answers while the server shuts down.
        fake.queue(call("add_task", {"title": "Buy milk"}), Hang())
        async with todo_api_process(
            tmp_path,
            DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
            BETTER_AUTH_SECRET=SECRET,
            GEMINI_API_KEY="test-key",
            GEMINI_BASE_URL=fake.url,
            SHUTDOWN_GRACE_S="1",
        ) as server:
            await server.wait_until_serving()
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                anyio.create_task_group() as group,
            ):
                answers: list[httpx.Response] = []

                async def send() -> None:
                    answers.append(
                        await client.post(
                            "/api/alice/chat",
                            json={"message": "add a task to buy milk"},
                            headers={"Authorization": f"Bearer {_token('alice')}"},
                        )
                    )

                group.start_soon(send)
                await anyio.to_thread.run_sync(fake.wait_for_requests, 2, 30.0)
                server.process.terminate()
            assert await server.wait_for_exit() == 0

    [answer] = answers
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["conversation_id"]
    assert "shutting down" in problem["detail"]
    [(title,)] = _rows(db_path, "SELECT title FROM task")
    assert title == "Buy milk"
    messages = _rows(db_path, "SELECT role, tool_calls FROM message ORDER BY id")
    assert [role for role, _ in messages] == ["user", "assistant"]
    [recorded] = json.loads(str(messages[1][1]))
    assert recorded["name"] == "add_task"
    # The turn gave the conversation back: its lease is not left held.
    assert _rows(db_path, "SELECT turn_lease FROM conversation") == [(None,)]
    assert "Traceback" not in server.stderr
    assert any("ended by the shutdown" in line for line in server.lines)
