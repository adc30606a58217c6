"""Fixtures for HTTP tests: an in-process `todo-api` per test, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.http_adapter.support import Api, make_settings, running

ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def api_factory(database_url: str, tmp_path: Path) -> ApiFactory:
    """Build an app on this test's database with other settings (env names as keys)."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[Api]:
        return running(make_settings(database_url, tmp_path, **overrides))

    return factory


@pytest.fixture
async def api(api_factory: ApiFactory) -> AsyncIterator[Api]:
    """The app on this test's database (SQLite and PostgreSQL), HS256 auth with SECRET."""
    async with api_factory() as running_api:
        yield running_api
