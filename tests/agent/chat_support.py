"""Helpers of the chat tests: requests to the chat routes, reading answers and streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from tests.support.api import Api
from tests.support.fake_gemini import Action, ModelRequest, Responder, call, text

ALICE = "alice"
BOB = "bob"


async def chat(
    api: Api,
    user: str,
    message: str,
    conversation_id: str | None = None,
    *,
    stream: bool = False,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"message": message, **extra}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    headers = api.auth(user)
    if stream:
        headers["Accept"] = "text/event-stream"
    return await api.client.post(f"/api/{user}/chat", json=body, headers=headers)


async def chat_ok(
    api: Api, user: str, message: str, conversation_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    response = await chat(api, user, message, conversation_id, **extra)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def add_task(api: Api, user: str, title: str) -> dict[str, Any]:
    response = await api.client.post(
        f"/api/{user}/tasks", json={"title": title}, headers=api.auth(user)
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def tasks_of(api: Api, user: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/{user}/tasks", headers=api.auth(user))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def conversations_of(api: Api, user: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/{user}/conversations", headers=api.auth(user))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def conversation(api: Api, user: str, conversation_id: str) -> dict[str, Any]:
    response = await api.client.get(
        f"/api/{user}/conversations/{conversation_id}", headers=api.auth(user)
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def find_then(
    query: str, tool: str, reply: str, extra: Mapping[str, Any] | None = None
) -> Responder:
    """A model that finds a task with list_tasks(query=...), then calls `tool` on the id it
    read in the function response, then answers `reply`."""

    def respond(request: ModelRequest) -> Action:
        responses = request.function_responses()
        if not responses:
            return call("list_tasks", {"query": query})
        if responses[0]["name"] == "list_tasks":
            task_id = responses[0]["response"]["result"]["tasks"][0]["id"]
            return call(tool, {"task_id": task_id, **(extra or {})})
        return text(reply)

    return respond


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a Server-Sent Events body; comments are left out."""
    events: list[tuple[str, dict[str, Any]]] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name = "message"
        data: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def text_parts(content: Mapping[str, Any]) -> str:
    return "".join(part.get("text", "") for part in content["parts"])


def model_view(task: Mapping[str, Any]) -> dict[str, Any]:
    """A task as the model is shown it: what it needs to act on."""
    fields = ("id", "title", "completed", "priority", "due_date", "tags", "description")
    return {name: task[name] for name in fields if task.get(name) not in (None, [])}


@dataclass
class AsgiExchange:
    """A chat request sent to the app by hand over ASGI, so that a test decides when the client
    leaves: after `leave_after` appears in the body sent so far, the client is gone (the
    server's next send fails, as with a real server, and `receive` says `http.disconnect`)."""

    leave_after: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    status: int | None = None
    left: anyio.Event = field(default_factory=anyio.Event)
    on_chunk: Callable[[bytes], None] | None = None

    @property
    def body(self) -> str:
        return b"".join(self.chunks).decode()

    async def run(self, api: Api, user: str, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        headers = {
            **api.auth(user),
            "accept": "text/event-stream",
            "content-type": "application/json",
            "content-length": str(len(payload)),
            "host": "127.0.0.1",
        }
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": f"/api/{user}/chat",
            "raw_path": f"/api/{user}/chat".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await self.left.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if self.left.is_set():
                raise OSError("the client left")
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body" and message.get("body"):
                self.chunks.append(message["body"])
                if self.on_chunk is not None:
                    self.on_chunk(message["body"])
                if self.leave_after is not None and self.leave_after in self.body:
                    self.left.set()

        await api.app(scope, receive, send)  # type: ignore[arg-type]
