"""`--version` of both console scripts: the version written in pyproject.toml, and nothing else
(no database opened, no user needed)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.deadlines import deadline

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QUICK_EXIT_S = deadline(90)


def _pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


@pytest.mark.parametrize("command", ["todo-mcp", "todo-api"])
def test_version_prints_the_pyproject_version(command: str, tmp_path: Path) -> None:
    # An empty environment: no TODO_USER_ID, no database; --version needs neither.
    result = subprocess.run(
        [str(BIN / command), "--version"],
        capture_output=True,
        cwd=tmp_path,
        env={"PATH": str(BIN), "TODO_DATA_DIR": str(tmp_path / "data")},
        timeout=QUICK_EXIT_S,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == f"{command} {_pyproject_version()}\n"
    assert not (tmp_path / "data").exists()
