"""Several real `todo-api` processes on one database, for the tests of a service run as many:
each on a port the kernel picks, its output kept, serving once its `/health` answers 200."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx

from tests.http_adapter.test_main import TODO_API
from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S, Server, serving

__all__ = ["Server", "todo_api_servers"]


@asynccontextmanager
async def todo_api_servers(
    count: int, workdir: Path, **settings: str
) -> AsyncIterator[list[Server]]:
    """`count` processes of `todo-api --port 0` with these settings."""
    async with AsyncExitStack() as stack:
        servers: list[Server] = []
        for n in range(count):
            home = workdir / f"server-{n}"
            home.mkdir(parents=True, exist_ok=True)
            command = [str(TODO_API), "--port", "0"]
            env = clean_environment(home / "data", **settings)
            servers.append(await stack.enter_async_context(serving(command, env=env, cwd=home)))
        for server in servers:
            await _healthy(server)
        yield servers


async def _healthy(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        with anyio.fail_after(STARTUP_S):
            response = await client.get("/health")
    assert response.status_code == 200, f"{response.text}\n{server.output()}"
