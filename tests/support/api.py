"""The real app with its lifespan running, over httpx, on settings that come from the test
alone (never from the environment or a `.env` file)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.types import LATEST_PROTOCOL_VERSION
from starlette.applications import Starlette

from http_adapter.app import build_app
from http_adapter.auth import issue_token
from http_adapter.settings import ApiSettings

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
BASE_URL = "http://127.0.0.1"
MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "todo-mcp-tests", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
# Bounded wait for a session over the in-process app (it is quick).
MCP_SESSION_S = 30


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


def mcp_session(api: Api, user: str) -> AbstractAsyncContextManager[Client[Any]]:
    """A real MCP client session over /mcp of the in-process app, as `user`."""
    return mcp_client(api, api.auth(user))


async def post_initialize(api: Api, **headers: str) -> httpx.Response:
    """An MCP `initialize` request to /mcp with `headers`: the guard's answer, or the server's."""
    return await api.client.post("/mcp", json=MCP_INITIALIZE, headers=MCP_HEADERS | headers)


@asynccontextmanager
async def mcp_client(
    api: Api, headers: dict[str, str], *, within_s: float = MCP_SESSION_S
) -> AsyncIterator[Client[Any]]:
    """A real MCP client session over /mcp of the in-process app, sending `headers`; the
    whole session must end within `within_s`."""

    def in_process(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
        **_: Any,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=api.app),
            headers=headers,
            timeout=timeout or httpx2.Timeout(within_s),
            auth=auth,
        )

    transport = StreamableHttpTransport(
        f"{BASE_URL}/mcp", headers=headers, httpx_client_factory=in_process
    )
    with anyio.fail_after(within_s):
        async with Client(transport) as client:
            yield client


# Builds an app on the test's database with other settings (environment names as keys).
ApiFactory = Callable[..., AbstractAsyncContextManager[Api]]
