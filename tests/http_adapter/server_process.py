"""A real `todo-api` process for tests of what only a process shows: start-up, signals, logs,
sockets. Its stderr is read line by line as it comes, so a test can wait for a line."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc
import httpx

from tests.http_adapter.test_main import STARTUP_S, TODO_API, environment, free_port

STOP_S = 30


@dataclass
class ServerProcess:
    process: anyio.abc.Process
    port: int
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
        await self.wait_for_line(lambda line: "Application startup complete" in line)

    async def wait_for_exit(self, within_s: float = STOP_S) -> int:
        with anyio.fail_after(within_s):
            return await self.process.wait()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


@asynccontextmanager
async def todo_api_process(
    tmp_path: Path, *args: str, port: int | None = None, **settings: str
) -> AsyncIterator[ServerProcess]:
    """`todo-api --port PORT ARGS` running with `settings` (no `--port` when `PORT` is among
    them); stopped with SIGTERM at the end if it still runs."""
    if "PORT" in settings:
        port_args: list[str] = []
        port = int(settings["PORT"])
    else:
        port = port or free_port()
        port_args = ["--port", str(port)]
    process = await anyio.open_process(
        [str(TODO_API), *port_args, *args],
        env=environment(tmp_path, **settings),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = ServerProcess(process, port)
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
