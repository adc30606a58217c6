"""The real app with its lifespan running, over httpx, on settings that come from the test
alone (never from the environment or a `.env` file)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from http_adapter.app import build_app
from http_adapter.auth import issue_token
from http_adapter.settings import ApiSettings

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
BASE_URL = "http://127.0.0.1"


@dataclass
class Api:
    """A running app, a client for it, and a way to mint tokens it accepts."""

    app: Starlette
    client: httpx.AsyncClient
    settings: ApiSettings

    def token(self, user_id: str, ttl_s: int = 3600) -> str:
        assert self.settings.better_auth_secret is not None
        return issue_token(self.settings, self.settings.better_auth_secret, user_id, ttl_s)

    def auth(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"}


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "TODO_DATA_DIR": str(data_dir),
        "BETTER_AUTH_SECRET": SECRET,
    }
    values.update(overrides)
    return ApiSettings(_env_file=None, **values)


@asynccontextmanager
async def running(settings: ApiSettings) -> AsyncIterator[Api]:
    """The app built from `settings`, with its lifespan running and a client bound to it."""
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Api(app=app, client=client, settings=settings)


# Builds an app on the test's database with other settings (environment names as keys).
ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]
