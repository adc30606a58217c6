"""Real `todo-api` processes for tests: started on port 0 (the port is read from the server's
own start-up line), checked alive, their output kept for failure messages, bounded waits."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import httpx

from tests.http_adapter.test_main import TODO_API
from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S, STOP_S

_LISTENING = re.compile(r"running on http://127\.0\.0\.1:(\d+)")


@dataclass
class Server:
    process: anyio.abc.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def todo_api_servers(
    count: int, workdir: Path, **settings: str
) -> AsyncIterator[list[Server]]:
    """`count` processes of `todo-api --port 0` with these settings, started together, each
    serving once its `/health` answers 200."""
    processes: list[tuple[anyio.abc.Process, Path]] = []
    try:
        for n in range(count):
            home = anyio.Path(workdir / f"server-{n}")
            await home.mkdir(parents=True, exist_ok=True)
            log = Path(home) / "server.log"
            with log.open("wb") as out:
                process = await anyio.open_process(
                    [str(TODO_API), "--port", "0"],
                    env=clean_environment(Path(home) / "data", **settings),
                    cwd=Path(home),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            processes.append((process, log))
        servers: list[Server] = []
        for process, log in processes:  # they start in parallel; waiting in turn costs nothing
            servers.append(Server(process, await _port(process, log), log))
        for server in servers:
            await _healthy(server)
        yield servers
    finally:
        for process, _log in processes:
            if process.returncode is None:
                process.terminate()
        with anyio.fail_after(STOP_S):
            for process, _log in processes:
                await process.wait()


async def _port(process: anyio.abc.Process, log: Path) -> int:
    with anyio.fail_after(STARTUP_S):
        while True:
            found = _LISTENING.search(await anyio.Path(log).read_text(errors="replace"))
            if found:
                return int(found.group(1))
            assert process.returncode is None, f"todo-api exited:\n{log.read_text()}"  # noqa: ASYNC240
            # A line in a file is awaited: there is no event to wait on.
            await anyio.sleep(0.05)


async def _healthy(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        with anyio.fail_after(STARTUP_S):
            response = await client.get("/health")
    assert response.status_code == 200, f"{response.text}\n{server.output()}"
