"""A chat UI client that leaves the moment it has sent its message (a closed tab, a dropped
connection): its turn is stopped, and the conversation is free for the next message at once,
not busy until the turn's lease lapses minutes later."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.chat_ui import sse_data
from tests.support.fake_gemini import Action, FakeGemini, ModelRequest, call, text
from tests.support.processes import todo_api_process

SECRET = "a-secret-for-the-disconnect-tests-0123456789abcdef"
# Far below the turn lease (minutes): only a lease given back frees the conversation this soon.
FREE_WITHIN_S = 10.0


def _token(user: str) -> str:
    return jwt.encode({"sub": user, "exp": 4_000_000_000}, SECRET, algorithm="HS256")


def slow_model(request: ModelRequest) -> Action:
    """Half a second an answer: the client is long gone before the first one."""
    time.sleep(0.5)
    if not request.function_responses():
        return call("list_tasks", {})
    return text("You have no tasks.")


def send_and_leave(port: int, path: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {_token('alice')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + raw)


def ai_sdk(message_id: str, words: str) -> dict[str, Any]:
    return {
        "id": "chat-left",
        "messages": [
            {"id": message_id, "role": "user", "parts": [{"type": "text", "text": words}]}
        ],
        "trigger": "submit-message",
    }


def chatkit_message(thread: str, words: str) -> dict[str, Any]:
    return {
        "type": "threads.add_user_message",
        "params": {
            "thread_id": thread,
            "input": {
                "content": [{"type": "input_text", "text": words}],
                "attachments": [],
                "inference_options": {},
            },
        },
    }


def busy(answer: httpx.Response) -> bool:
    if answer.status_code == 409:
        return True
    return any(
        frame.get("type") == "error" and "still answering" in str(frame.get("message"))
        for frame in sse_data(answer.text)
    )


async def until_stored(db_path: Path, words: str) -> None:
    """Until the server has taken the message (its turn started), the client long gone."""
    with anyio.fail_after(10):
        while True:
            conn = sqlite3.connect(db_path)
            try:
                found = conn.execute("SELECT 1 FROM message WHERE content = ?", (words,)).fetchall()
            finally:
                conn.close()
            if found:
                return
            await anyio.sleep(0.05)


async def until_free(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> float:
    """Seconds until the conversation takes the next message (which must then succeed)."""
    started = time.monotonic()
    while True:
        answer = await client.post(path, json=body)
        if not busy(answer):
            assert answer.status_code == 200, answer.text
            return time.monotonic() - started
        assert time.monotonic() - started < FREE_WITHIN_S, "the conversation stayed busy"
        await anyio.sleep(0.2)


@pytest.mark.parametrize("protocol", ["ai-sdk", "chatkit"])
async def test_a_client_that_leaves_at_once_leaves_its_conversation_free(
    tmp_path: Path, protocol: str
) -> None:
    if protocol == "chatkit":
        pytest.importorskip("chatkit.server", reason="the chatkit extra is not installed")
    db_path = tmp_path / "todo.db"
    with FakeGemini() as fake:
        fake.respond(slow_model)
        async with todo_api_process(
            tmp_path,
            DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
            BETTER_AUTH_SECRET=SECRET,
            GEMINI_API_KEY="test-key",
            GEMINI_BASE_URL=fake.url,
        ) as server:
            await server.wait_until_serving()
            headers = {"Authorization": f"Bearer {_token('alice')}"}
            async with httpx.AsyncClient(
                base_url=server.url, headers=headers, timeout=30
            ) as client:
                if protocol == "ai-sdk":
                    path = "/api/alice/chat/ai-sdk"
                    first, then = ai_sdk("m1", "show my tasks"), ai_sdk("m2", "did that work?")
                else:
                    path = "/api/alice/chatkit"
                    created = await client.post(
                        path,
                        json={
                            "type": "threads.create",
                            "params": {"input": chatkit_message("", "hello")["params"]["input"]},
                        },
                    )
                    thread = sse_data(created.text)[0]["thread"]["id"]
                    first = chatkit_message(thread, "show my tasks")
                    then = chatkit_message(thread, "did that work?")
                await anyio.to_thread.run_sync(send_and_leave, server.port, path, first)
                await until_stored(db_path, "show my tasks")
                await until_free(client, path, then)

    conn = sqlite3.connect(db_path)
    try:
        leases = conn.execute("SELECT turn_lease FROM conversation").fetchall()
        said = [row[0] for row in conn.execute("SELECT content FROM message WHERE role = 'user'")]
    finally:
        conn.close()
    assert leases == [(None,)]
    assert said[-2:] == ["show my tasks", "did that work?"]
