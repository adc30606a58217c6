"""SIGTERM during ChatKit and AI SDK turns: as with `/chat`, the streams end when the grace
period does, each in its protocol's own error form, and what the turns did is recorded before
the process closes its database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.chat_ui import sse_data
from tests.support.fake_gemini import Action, FakeGemini, Hang, ModelRequest, call
from tests.support.processes import todo_api_process

pytest.importorskip("chatkit.server", reason="the chatkit extra is not installed")

from chatkit.types import ErrorEvent, ThreadStreamEvent
from pydantic import TypeAdapter

SECRET = "a-secret-for-the-shutdown-tests-0123456789abcdef"
EVENTS: TypeAdapter[Any] = TypeAdapter(ThreadStreamEvent)
CHATKIT = {
    "type": "threads.create",
    "params": {
        "input": {
            "content": [{"type": "input_text", "text": "add a task to buy milk"}],
            "attachments": [],
            "inference_options": {},
        }
    },
}
AI_SDK = {
    "id": "chat-at-shutdown",
    "messages": [
        {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "add a task to buy milk"}]}
    ],
    "trigger": "submit-message",
}


def _token(user: str) -> str:
    return jwt.encode({"sub": user, "exp": 4_000_000_000}, SECRET, algorithm="HS256")


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def adds_then_hangs(request: ModelRequest) -> Action:
    """The model adds a task, then never answers while the server shuts down."""
    if not request.function_responses():
        return call("add_task", {"title": "Buy milk"})
    return Hang()


async def test_sigterm_ends_chat_ui_streams_in_their_error_forms_and_keeps_their_records(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "todo.db"
    answers: dict[str, httpx.Response] = {}
    with FakeGemini() as fake:
        fake.respond(adds_then_hangs)
        async with todo_api_process(
            tmp_path,
            DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
            BETTER_AUTH_SECRET=SECRET,
            GEMINI_API_KEY="test-key",
            GEMINI_BASE_URL=fake.url,
            SHUTDOWN_GRACE_S="1",
        ) as server:
            await server.wait_until_serving()
            headers = {"Authorization": f"Bearer {_token('alice')}"}
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=30) as client,
                anyio.create_task_group() as group,
            ):

                async def send(path: str, body: dict[str, Any]) -> None:
                    answers[path] = await client.post(path, json=body, headers=headers)

                group.start_soon(send, "/api/alice/chatkit", CHATKIT)
                group.start_soon(send, "/api/alice/chat/ai-sdk", AI_SDK)
                # Each turn: the request that adds the task, then the one that hangs.
                await anyio.to_thread.run_sync(fake.wait_for_requests, 4, 30.0)
                server.process.terminate()
            assert await server.wait_for_exit() == 0

    chatkit = answers["/api/alice/chatkit"]
    assert chatkit.status_code == 200, chatkit.text
    frames = [EVENTS.validate_python(frame) for frame in sse_data(chatkit.text)]
    error = frames[-1]
    assert isinstance(error, ErrorEvent), chatkit.text
    assert "shutting down" in (error.message or "")
    assert error.allow_retry
    ai_sdk = answers["/api/alice/chat/ai-sdk"]
    assert ai_sdk.status_code == 200, ai_sdk.text
    chunks = sse_data(ai_sdk.text)
    assert [c["type"] for c in chunks[-2:]] == ["error", "finish"], ai_sdk.text
    assert "shutting down" in chunks[-2]["errorText"]
    assert ai_sdk.text.endswith("data: [DONE]\n\n")
    # Both turns' records were written before the database closed: the task each added, and
    # the conversations given back.
    assert _rows(db_path, "SELECT title FROM task") == [("Buy milk",), ("Buy milk",)]
    records = _rows(db_path, "SELECT tool_calls FROM message WHERE role = 'assistant'")
    assert sorted(json.loads(calls)[0]["name"] for (calls,) in records) == ["add_task"] * 2
    assert _rows(db_path, "SELECT turn_lease FROM conversation") == [(None,), (None,)]
    assert "Traceback" not in server.stderr
    assert any("ended by the shutdown" in line for line in server.lines)
