"""Server-Sent Events for tests: parsing them, and opening a stream of the in-process app
(httpx's ASGI transport waits for a response to end, which an event stream never does)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from starlette.types import ASGIApp, Message

WAIT_S = 10


@dataclass
class Event:
    name: str | None
    id: str | None
    data: Any
    comment: bool = False


def parse(block: str) -> Event:
    """One event block (without its blank line)."""
    name = event_id = None
    data: list[str] = []
    comment = True
    for line in block.split("\n"):
        if line.startswith(":"):
            continue
        comment = False
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "id":
            event_id = value
        elif key == "data":
            data.append(value)
    body = "\n".join(data)
    return Event(name, event_id, json.loads(body) if body else None, comment)


@dataclass
class EventReader:
    """Events as they arrive, from chunks of text."""

    chunks: AsyncIterator[str]
    buffer: str = ""
    ended: bool = False
    comments: int = 0
    pending: list[Event] = field(default_factory=list)

    async def next(self, *, include_comments: bool = False, within_s: float = WAIT_S) -> Event:
        """The next event (comments skipped unless asked for); fails after `within_s`."""
        with anyio.fail_after(within_s):
            while True:
                while "\n\n" in self.buffer:
                    block, self.buffer = self.buffer.split("\n\n", 1)
                    event = parse(block)
                    if event.comment:
                        self.comments += 1
                        if not include_comments:
                            continue
                    return event
                try:
                    self.buffer += await self.chunks.__anext__()
                except StopAsyncIteration:
                    self.ended = True
                    raise

    async def changes(self, count: int, within_s: float = WAIT_S) -> list[dict[str, Any]]:
        events = [await self.next(within_s=within_s) for _ in range(count)]
        assert all(e.name == "change" for e in events), events
        assert all(e.id == str(e.data["seq"]) for e in events), events
        return [e.data for e in events]

    async def end(self, within_s: float = WAIT_S) -> None:
        """Wait until the stream ends (any events before the end are dropped)."""
        with anyio.fail_after(within_s):
            async for _chunk in self.chunks:
                pass
        self.ended = True


@dataclass
class AsgiResponse:
    status: int
    headers: dict[str, str]
    body: MemoryObjectReceiveStream[Message]

    async def text_chunks(self) -> AsyncIterator[str]:
        async for message in self.body:
            yield message.get("body", b"").decode()
            if not message.get("more_body", False):
                return

    def events(self) -> EventReader:
        return EventReader(self.text_chunks())

    async def text(self) -> str:
        return "".join([chunk async for chunk in self.text_chunks()])


@asynccontextmanager
async def asgi_get(
    app: ASGIApp, path: str, headers: dict[str, str], query: str = ""
) -> AsyncIterator[AsgiResponse]:
    """GET `path` from the app in this process, its body read as it is sent; the client
    disconnects when the block ends."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"127.0.0.1")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
        "state": {},
    }
    gone = anyio.Event()
    send_body, receive_body = anyio.create_memory_object_stream[Message](1000)
    start_send, start_receive = anyio.create_memory_object_stream[Message](1)
    request_sent = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await start_send.send(message)
        else:
            await send_body.send(message)

    async with receive_body, start_receive, anyio.create_task_group() as group:

        async def run() -> None:
            with send_body, start_send:
                await app(scope, receive, send)

        group.start_soon(run)
        with anyio.fail_after(WAIT_S):
            start = await start_receive.receive()
        headers_out = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        try:
            yield AsgiResponse(start["status"], headers_out, receive_body)
        finally:
            gone.set()
