"""What the chat UI protocol tests share: the app with chat on against a fake model, and the
ChatKit wire read back through the `openai-chatkit` package's own types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx

from tests.support.api import Api, ApiFactory
from tests.support.fake_gemini import FakeGemini


@contextmanager
def fake_model() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake
    assert fake.unscripted == 0, f"the fake model got {fake.unscripted} unscripted request(s)"


@asynccontextmanager
async def chat_app(factory: ApiFactory, fake: FakeGemini, **overrides: Any) -> AsyncIterator[Api]:
    settings = {
        "GEMINI_API_KEY": "test-key",
        "GEMINI_BASE_URL": fake.url,
        "GEMINI_RETRY_INITIAL_DELAY_S": "0.01",
        **overrides,
    }
    async with factory(**settings) as api:
        yield api


def sse_data(body: str) -> list[dict[str, Any]]:
    """The JSON of every `data:` line of a Server-Sent Events body, in order."""
    frames = []
    for line in body.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            frames.append(json.loads(line[len("data: ") :]))
    return frames


async def chatkit(api: Api, user: str, request: dict[str, Any]) -> httpx.Response:
    return await api.client.post(
        f"/api/{user}/chatkit", json=request, headers=api.auth(user), timeout=30
    )


async def post_streamed(
    api: Api, user: str, path: str, body: dict[str, Any], on_chunk: Callable[[bytes], None]
) -> bytes:
    """POST `body` to `path` over ASGI by hand, handing each chunk of the answer to `on_chunk`
    as the app sends it (httpx's ASGI transport hands over the body only at its end); the
    whole body."""
    payload = json.dumps(body).encode()
    headers = {
        **api.auth(user),
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
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    chunks: list[bytes] = []
    answered = anyio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            if message.get("body"):
                chunks.append(message["body"])
                on_chunk(message["body"])
            if not message.get("more_body"):
                answered.set()

    await api.app(scope, receive, send)  # type: ignore[arg-type]
    return b"".join(chunks)
