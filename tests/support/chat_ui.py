"""What the chat UI protocol tests share: the app with chat on against a fake model, and the
ChatKit wire read back through the `openai-chatkit` package's own types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

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
