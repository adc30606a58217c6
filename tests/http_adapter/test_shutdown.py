"""SIGTERM: running requests get a grace period, chat streams still running after it end with
an SSE `error` event, nothing half-done is stored, and the process exits 0."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import httpx
import jwt

from http_adapter.shutdown import Shutdown
from tests.support.fake_gemini import FakeGemini, Hang
from tests.support.processes import todo_api_process

SECRET = "a-secret-for-the-shutdown-tests-0123456789abcdef"


def _token(user: str) -> str:
    return jwt.encode({"sub": user, "exp": 4_000_000_000}, SECRET, algorithm="HS256")


def _events(text: str) -> list[tuple[str, dict[str, object]]]:
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def _messages(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT role, content FROM message ORDER BY id").fetchall()
    finally:
        conn.close()


async def test_sigterm_ends_a_running_chat_stream_with_an_error_event_and_exits_0(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "todo.db"
    with FakeGemini() as fake:
        fake.queue(Hang())  # the model never answers while the server shuts down
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
                client.stream(
                    "POST",
                    "/api/alice/chat",
                    json={"message": "add a task to buy milk"},
                    headers={
                        "Authorization": f"Bearer {_token('alice')}",
                        "Accept": "text/event-stream",
                    },
                ) as response,
            ):
                assert response.status_code == 200
                with anyio.fail_after(30):
                    # The fake model serves from a thread of its own and offers no event.
                    while not fake.requests:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                server.process.terminate()
                body = (await response.aread()).decode()
            assert await server.wait_for_exit() == 0

    events = _events(body)
    assert [name for name, _ in events] == ["error"], body
    error = events[0][1]
    assert error["status"] == 503
    assert error["conversation_id"]
    # The user's message was stored before the model was asked; no reply, half or whole.
    assert _messages(db_path) == [("user", "add a task to buy milk")]
    assert "Traceback" not in server.stderr
    assert any("ended by the shutdown" in line for line in server.lines)


async def test_streams_end_after_the_grace_period_not_before() -> None:
    shutdown = Shutdown()
    with anyio.fail_after(5):
        started = anyio.current_time()
        shutdown.begin(0.2)
        shutdown.begin(100)  # a second call does not move the deadline
        await shutdown.wait()
    assert anyio.current_time() - started >= 0.2
