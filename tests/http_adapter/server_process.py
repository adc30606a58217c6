"""A real `todo-api` process for tests of what only a process shows: start-up, signals, logs,
sockets. Its stderr is read line by line as it comes, so a test can wait for a line."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc
import httpx

from tests.http_adapter.test_main import TODO_API
from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S, STOP_S

# uvicorn's start-up line; with port 0 it names the port the kernel gave it.
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@dataclass
class ServerProcess:
    process: anyio.abc.Process
    port: int = 0  # known once the server reports it (`wait_until_serving`)
    lines: list[str] = field(default_factory=list)
    _news: anyio.Event = field(default_factory=anyio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def read_stderr(self) -> None:
        assert self.process.stderr is not None
        buffer = b""
        async for chunk in self.process.stderr:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            self.lines.extend(line.decode(errors="replace") for line in complete)
            self._news.set()
            self._news = anyio.Event()
        if buffer:
            self.lines.append(buffer.decode(errors="replace"))
        self._news.set()

    async def wait_for_line(
        self, wanted: Callable[[str], bool], within_s: float = STARTUP_S
    ) -> str:
        """The first stderr line for which `wanted` is true, waiting for it if need be."""
        with anyio.fail_after(within_s):
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if wanted(line):
                        return line
                seen = len(self.lines)
                if self.process.returncode is not None:
                    raise AssertionError("todo-api exited:\n" + "\n".join(self.lines))
                await self._news.wait()

    async def wait_until_serving(self) -> None:
        line = await self.wait_for_line(lambda line: _LISTENING.search(line) is not None)
        found = _LISTENING.search(line)
        assert found is not None
        self.port = int(found.group(1))

    async def wait_for_exit(self, within_s: float = STOP_S) -> int:
        with anyio.fail_after(within_s):
            return await self.process.wait()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


@asynccontextmanager
async def todo_api_process(
    tmp_path: Path, *args: str, **settings: str
) -> AsyncIterator[ServerProcess]:
    """`todo-api --port 0 ARGS` running with `settings` (no `--port` when `PORT` is among
    them); stopped with SIGTERM at the end if it still runs. Its port is known once
    `wait_until_serving` returns."""
    port_args = [] if "PORT" in settings else ["--port", "0"]
    process = await anyio.open_process(
        [str(TODO_API), *port_args, *args],
        env=clean_environment(tmp_path / "data", **settings),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = ServerProcess(process)
    async with anyio.create_task_group() as group:
        group.start_soon(server.read_stderr)
        try:
            yield server
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.fail_after(STOP_S):
                await process.wait()


def client(server: ServerProcess, **options: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, **options)  # type: ignore[arg-type]
