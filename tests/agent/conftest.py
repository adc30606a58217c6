"""Fixtures for the chat agent: a fake Gemini server and the app pointed at it, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from tests.support.api import Api, ApiFactory
from tests.support.fake_gemini import FakeGemini


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A fake model on 127.0.0.1 for this test; unscripted requests fail the test."""
    with FakeGemini() as fake:
        yield fake
    assert fake.unscripted == 0, f"the fake model got {fake.unscripted} unscripted request(s)"


@pytest.fixture
def chat_factory(api_factory: ApiFactory, fake_gemini: FakeGemini) -> ApiFactory:
    """Build an app whose chat talks to the fake model, with other settings as given."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[Api]:
        settings: dict[str, Any] = {
            "GEMINI_API_KEY": "test-key",
            "GEMINI_BASE_URL": fake_gemini.url,
            # Retries stay on, with waits short enough for tests.
            "GEMINI_RETRY_INITIAL_DELAY_S": "0.01",
        }
        settings.update(overrides)
        return api_factory(**settings)

    return factory


@pytest.fixture
async def chat_api(chat_factory: ApiFactory) -> AsyncIterator[Api]:
    """The app with chat on, talking to `fake_gemini`."""
    async with chat_factory() as api:
        yield api
