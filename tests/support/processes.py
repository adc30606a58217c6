"""Real processes for tests: `todo-api` and `todo-mcp` as a user runs them, on a port the kernel
picks, found through the address the server itself reports, and never waited on blindly.

The one place tests start `todo-api` from:
- `todo_api(tmp_path, **settings)`: serving, yields its URL (and `token` for a token to use);
- `todo_api_servers(count, workdir, **settings)`: several on one database, each healthy;
- `todo_api_process(tmp_path, *args, **settings)`: its stderr read line by line, for tests of
  start-up, signals and logs;
- `serving(command, ...)`: any command that serves and reports its address.
Tests that start processes are marked `process` (see `tests/support/markers.py`).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest

from tests.support.deadlines import deadline
from tests.support.environment import clean_environment

TODO_API = Path(sys.executable).parent / "todo-api"
TODO_MCP = Path(sys.executable).parent / "todo-mcp"
# Tokens of the served tests are signed with this unless a test's settings say otherwise.
SECRET = "a-secret-for-the-served-tests-0123456789abcdef"
# Generous: a cold start imports the whole stack; a hang still fails instead of blocking.
STARTUP_S = deadline(90)
STOP_S = deadline(30)
QUICK_EXIT_S = deadline(60)
# uvicorn's start-up line; with port 0 it names the port the kernel gave it.
_LISTENING = re.compile(r"Uvicorn running on (http://\S+)")
_LISTENING_PORT = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@dataclass(frozen=True)
class Server:
    url: str
    process: anyio.abc.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def serving(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    name: str = "server",
    startup_s: float = STARTUP_S,
) -> AsyncIterator[Server]:
    """Run `command`, a server told to listen on port 0, in `cwd` until the block ends; yields
    it with the base URL it reports. A server that exits or says nothing in time fails the
    test at once, with everything it printed (kept in `cwd/NAME.log`)."""
    log = cwd / f"{name}.log"
    with log.open("wb") as sink:
        process = await anyio.open_process(
            list(command),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            url = await _reported_url(process, log, startup_s)
            yield Server(url=url, process=process, log=log)
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.fail_after(STOP_S):
                await process.wait()


async def _reported_url(process: anyio.abc.Process, log: Path, startup_s: float) -> str:
    output = anyio.Path(log)
    with anyio.move_on_after(startup_s):
        while True:
            found = _LISTENING.search(await output.read_text(errors="replace"))
            if found:
                return found.group(1)
            if process.returncode is not None:
                break
            await anyio.sleep(0.05)  # polls the log; the deadline above bounds it
    # The process may have exited between the two reads: report what it said in full.
    state = "still running" if process.returncode is None else f"exit {process.returncode}"
    said = await output.read_text(errors="replace")
    pytest.fail(f"the server did not report its address ({state}); its output:\n{said}")


@contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections while the block runs: bound here, so
    nothing else can take it, but never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


# --- todo-api ---


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Tokens are signed with SECRET unless `settings` say otherwise."""
    return clean_environment(tmp_path / "data", **{"BETTER_AUTH_SECRET": SECRET, **settings})


@asynccontextmanager
async def todo_api(tmp_path: Path, **settings: str) -> AsyncIterator[str]:
    """The installed `todo-api` serving with `settings`; yields its base URL."""
    command = [str(TODO_API), "--port", "0"]
    async with serving(command, env=_environment(tmp_path, **settings), cwd=tmp_path) as server:
        yield server.url


async def token(tmp_path: Path, user_id: str, **settings: str) -> str:
    """`todo-api token USER_ID`, as a person gets one."""
    with anyio.fail_after(QUICK_EXIT_S):
        result = await anyio.run_process(
            [str(TODO_API), "token", user_id],
            env=_environment(tmp_path, **settings),
            cwd=tmp_path,
        )
    return result.stdout.decode().strip()


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
        line = await self.wait_for_line(lambda line: _LISTENING_PORT.search(line) is not None)
        found = _LISTENING_PORT.search(line)
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
