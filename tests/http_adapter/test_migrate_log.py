"""What `todo-api migrate` says: its own steps, not Alembic's plugin set-up."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S

TODO_API = Path(sys.executable).parent / "todo-api"


async def test_a_migration_from_scratch_logs_no_plugin_setup_lines(tmp_path: Path) -> None:
    env = clean_environment(
        tmp_path / "data", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    )
    with anyio.fail_after(STARTUP_S):
        result = await anyio.run_process([str(TODO_API), "migrate"], env=env, cwd=tmp_path)
    stderr = result.stderr.decode()
    assert "Running upgrade" in stderr
    assert "setup plugin" not in stderr
