"""A port another process listens on is refused before the database is even opened."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import anyio

from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S

TODO_API = Path(sys.executable).parent / "todo-api"


async def test_a_port_in_use_is_one_line_that_suggests_another(tmp_path: Path) -> None:
    env = clean_environment(
        tmp_path / "data", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with anyio.fail_after(STARTUP_S):
            result = await anyio.run_process(
                [str(TODO_API), "--port", str(port)], env=env, cwd=tmp_path, check=False
            )

    assert result.returncode != 0
    stderr = result.stderr.decode()
    last = stderr.strip().splitlines()[-1]
    assert (
        last == f"todo-api: port {port} on 127.0.0.1 is in use; choose another: --port N or PORT=N"
    )
    # Said before the database was opened: nothing was migrated, nothing started.
    assert not (tmp_path / "x.db").exists()
    assert "Traceback" not in stderr
