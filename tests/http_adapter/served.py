"""`todo-api` as a real process on a free port, for tests that need a server a browser, a
generator or another program can reach."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx

TODO_API = Path(sys.executable).parent / "todo-api"
SECRET = "a-secret-for-the-served-tests-0123456789abcdef"
# Generous: a cold start imports the whole stack; a hang still fails instead of blocking.
STARTUP_S = 60
QUICK_EXIT_S = 30
# Every setting the product reads; a test's server sees only those it is given.
_PREFIXES = ("TODO_", "BETTER_AUTH_", "JWT_", "GEMINI_", "DATABASE_", "CHAT_", "LOG_", "METRICS_")
_NAMES = {"CORS_ORIGINS", "PUBLIC_URL", "ALLOWED_HOSTS", "PORT"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The parent's environment without the product's settings, plus `settings`; the data dir
    is the test's own and tokens are signed with SECRET unless `settings` say otherwise."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _NAMES and not name.startswith(_PREFIXES)
    }
    env["TODO_DATA_DIR"] = str(tmp_path / "data")
    env["BETTER_AUTH_SECRET"] = SECRET
    env.update(settings)
    return env


async def wait_until_healthy(
    base_url: str, process: anyio.abc.Process, timeout_s: float = STARTUP_S
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        with anyio.fail_after(timeout_s):
            while True:
                assert process.returncode is None, "todo-api exited during start-up"
                try:
                    response = await client.get("/health")
                except httpx.TransportError:
                    await anyio.sleep(0.1)
                    continue
                assert response.status_code == 200, response.text
                return


@asynccontextmanager
async def serving(
    tmp_path: Path,
    command: Sequence[str],
    port: int,
    env: dict[str, str],
    cwd: Path | None = None,
) -> AsyncIterator[str]:
    """Start `command` (a todo-api serving on `port`), wait for /health 200, yield its base URL;
    stop it afterwards. Its output goes to tmp_path/server.log."""
    base_url = f"http://127.0.0.1:{port}"
    with (tmp_path / "server.log").open("ab") as log:
        process = await anyio.open_process(
            list(command),
            env=env,
            cwd=cwd or tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            await wait_until_healthy(base_url, process)
            yield base_url
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.fail_after(QUICK_EXIT_S):
                await process.wait()


@asynccontextmanager
async def todo_api(tmp_path: Path, **settings: str) -> AsyncIterator[str]:
    """The installed `todo-api` serving on a free port with `settings`."""
    port = free_port()
    async with serving(
        tmp_path, [str(TODO_API), "--port", str(port)], port, environment(tmp_path, **settings)
    ) as base_url:
        yield base_url


async def token(tmp_path: Path, user_id: str, **settings: str) -> str:
    """`todo-api token USER_ID`, as a person gets one."""
    with anyio.fail_after(QUICK_EXIT_S):
        result = await anyio.run_process(
            [str(TODO_API), "token", user_id], env=environment(tmp_path, **settings), cwd=tmp_path
        )
    return result.stdout.decode().strip()
