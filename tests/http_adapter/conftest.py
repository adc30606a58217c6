"""Fixtures of the chat routes' tests: the fake model, and the app that talks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.api import Api, ApiFactory
from tests.support.chat_ui import chat_app, fake_model
from tests.support.fake_gemini import FakeGemini


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """The fake model; the test fails if it got a request nobody scripted."""
    with fake_model() as fake:
        yield fake


@pytest.fixture
async def chat_api(api_factory: ApiFactory, fake_gemini: FakeGemini) -> AsyncIterator[Api]:
    """`todo-api` with its chat on the fake model (a module's `api` when it tests the chat)."""
    async with chat_app(api_factory, fake_gemini) as running:
        yield running
