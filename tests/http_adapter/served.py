"""`todo-api` as a real process, for tests that need a server a browser, a generator or another
program can reach: on a port the kernel picks, with only the settings the test gives."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from tests.support.deadlines import deadline
from tests.support.environment import clean_environment
from tests.support.processes import serving

TODO_API = Path(sys.executable).parent / "todo-api"
SECRET = "a-secret-for-the-served-tests-0123456789abcdef"
QUICK_EXIT_S = deadline(60)


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
