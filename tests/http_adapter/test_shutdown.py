"""SIGTERM: running requests get a grace period, chat streams still running after it end with
an SSE `error` event, nothing half-done is stored, and the process exits 0."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import jwt
import pytest

from http_adapter.shutdown import Shutdown, until_shutdown
from tests.agent.fake_gemini import FakeGemini, Hang
from tests.http_adapter.server_process import todo_api_process

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
        fake.queue(Hang(60))  # the model never answers while the server shuts down
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


async def _counting(seen: list[int]) -> AsyncIterator[int]:
    for n in range(3):
        seen.append(n)
        yield n
    await anyio.sleep_forever()
    yield -2  # never reached


async def test_until_shutdown_passes_items_then_ends_with_the_last_one() -> None:
    shutdown = Shutdown()
    seen: list[int] = []
    got = []
    with anyio.fail_after(5):
        async for item in until_shutdown(_counting(seen), shutdown, lambda: -1):
            got.append(item)
            if item == 2:
                shutdown.end_streams()
    assert got == [0, 1, 2, -1]


async def test_until_shutdown_ends_after_the_grace_period_not_before() -> None:
    shutdown = Shutdown()
    got = []
    with anyio.fail_after(5):
        shutdown.begin(0.2)
        shutdown.begin(100)  # a second call does not move the deadline
        started = anyio.current_time()
        async for item in until_shutdown(_counting([]), shutdown, lambda: -1):
            got.append(item)
        ended = anyio.current_time()
    assert got == [0, 1, 2, -1]
    assert ended - started >= 0.2


async def test_until_shutdown_keeps_context_variables_across_items() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def setting() -> AsyncIterator[str]:
        token = var.set("set in the stream")
        yield var.get()
        yield var.get()
        var.reset(token)  # fails unless every step ran in the same context

    got = [item async for item in until_shutdown(setting(), Shutdown(), lambda: "last")]
    assert got == ["set in the stream", "set in the stream"]


@pytest.mark.parametrize("stop_after", [0, 2])
async def test_until_shutdown_closes_the_stream_when_its_reader_stops(stop_after: int) -> None:
    closed = anyio.Event()

    async def stream() -> AsyncIterator[int]:
        try:
            for n in range(10):
                yield n
        finally:
            closed.set()

    items = until_shutdown(stream(), Shutdown(), lambda: -1)
    async for item in items:
        if item == stop_after:
            break
    await items.aclose()  # type: ignore[attr-defined]
    with anyio.fail_after(5):
        await closed.wait()
