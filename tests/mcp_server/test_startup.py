"""The start-up line of both servers: which version, which database (never its password), which
user and which auth mode, so a host started elsewhere than the clone shows what it opened."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from http_adapter.auth import describe_auth
from http_adapter.settings import ApiSettings
from mcp_server.settings import ServerSettings
from mcp_server.startup import startup_line
from mcp_server.version import package_version
from storage.location import describe_database
from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S

BIN = Path(sys.executable).parent
SECRET = "a-secret-for-the-start-up-line-tests-0123456789"


def test_a_relative_sqlite_path_is_shown_resolved_and_said_to_be_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    described = describe_database("sqlite:///data/x.db", "DATABASE_URL")
    assert described.startswith(f"SQLite {tmp_path / 'data' / 'x.db'} from DATABASE_URL")
    assert described.endswith("(a relative path, resolved in the working directory)")
    absolute = describe_database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "DATABASE_URL")
    assert absolute.endswith(" from DATABASE_URL")


def test_a_postgres_url_is_shown_without_its_password() -> None:
    described = describe_database(
        "postgresql://todo:hunter2@db.example.com:6543/tasks?sslmode=require", "DATABASE_URL"
    )
    assert described == "PostgreSQL todo@db.example.com:6543/tasks from DATABASE_URL"


def test_the_line_names_version_database_user_and_auth(tmp_path: Path) -> None:
    settings = ServerSettings(_env_file=None, TODO_DATA_DIR=str(tmp_path))
    line = startup_line("todo-mcp", settings, auth="none", user="alice")
    assert line.startswith(f"todo-mcp {package_version()}: ")
    assert f"SQLite {tmp_path / 'todo.db'} from the default in TODO_DATA_DIR" in line
    assert "user alice" in line
    assert line.endswith("auth none")
    assert "\n" not in line


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "development (tokens from `todo-api token <user>`"),
        ({"BETTER_AUTH_SECRET": SECRET}, "HS256 tokens signed with BETTER_AUTH_SECRET"),
        (
            {"BETTER_AUTH_URL": "https://auth.example.com"},
            "Better Auth JWTs (keys from https://auth.example.com/api/auth/jwks)",
        ),
    ],
)
def test_the_auth_mode_is_described_without_the_secret(
    tmp_path: Path, values: dict[str, Any], expected: str
) -> None:
    settings = ApiSettings(_env_file=None, TODO_DATA_DIR=str(tmp_path), **values)
    described = describe_auth(settings)
    assert expected in described
    assert SECRET not in described


async def test_todo_mcp_says_which_database_it_opened(tmp_path: Path) -> None:
    env = clean_environment(tmp_path / "home", DATABASE_URL="sqlite:///data/x.db")
    with anyio.fail_after(STARTUP_S):
        result = await anyio.run_process(
            [str(BIN / "todo-mcp"), "--user", "alice"], input=b"", env=env, cwd=tmp_path
        )
    first = result.stderr.decode().splitlines()[0]
    assert first.startswith(f"todo-mcp {package_version()}: ")
    assert f"SQLite {tmp_path / 'data' / 'x.db'} from DATABASE_URL" in first
    assert "user alice" in first
    assert (tmp_path / "data" / "x.db").exists()


async def test_todo_api_says_which_database_and_auth_mode_it_uses(tmp_path: Path) -> None:
    url = "postgresql://postgres:hunter2@127.0.0.1:1/x"
    env = clean_environment(tmp_path / "home", DATABASE_URL=url, DATABASE_WAIT_S="0")
    command = [str(BIN / "todo-api"), "--port", "0"]
    with anyio.fail_after(STARTUP_S):
        result = await anyio.run_process(command, env=env, cwd=tmp_path, check=False)
    stderr = result.stderr.decode()
    assert f"todo-api {package_version()}: database PostgreSQL postgres@127.0.0.1:1/x" in stderr
    assert "auth development" in stderr
    assert "hunter2" not in stderr
