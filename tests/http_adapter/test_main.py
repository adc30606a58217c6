"""`todo-api` as people run it: the console script in a real process, for `token`, `migrate`,
bad configuration and serving."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.abc
import asyncpg
import httpx
import jwt
import pytest
from sqlalchemy.engine import make_url

TODO_API = Path(sys.executable).parent / "todo-api"
SECRET = "a-secret-for-the-cli-tests-0123456789abcdef"
# Generous: a cold start imports the whole stack; a hang still fails instead of blocking.
QUICK_EXIT_S = 60
STARTUP_S = 30
TABLES = {"task", "conversation", "message", "idempotency_key", "alembic_version"}
_OURS = (
    "DATABASE_URL",
    "TODO_DATA_DIR",
    "TODO_USER_ID",
    "TODO_TASK_QUOTA",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "CORS_ORIGINS",
    "PUBLIC_URL",
    "ALLOWED_HOSTS",
    "GEMINI_API_KEY",
    "GEMINI_MODEL",
    "GEMINI_BASE_URL",
    "GEMINI_TIMEOUT_S",
    "CHAT_RATE_LIMIT",
    "OAUTH_ISSUER",
)


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The parent's environment without our settings, plus `settings`; the data dir is always
    the test's own, so nothing touches the real user data dir."""
    env = {name: value for name, value in os.environ.items() if name not in _OURS}
    env["TODO_DATA_DIR"] = str(tmp_path / "data")
    env.update(settings)
    return env


async def todo_api(
    tmp_path: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[bytes]:
    """Run `todo-api ARGS` to completion in `tmp_path` (away from any project .env)."""
    with anyio.fail_after(QUICK_EXIT_S):
        return await anyio.run_process(
            [str(TODO_API), *args],
            env=environment(tmp_path, **settings),
            cwd=tmp_path,
            check=False,
        )


def assert_clean_failure(result: subprocess.CompletedProcess[bytes], *words: str) -> str:
    """A non-zero exit with a readable reason on stderr and no traceback; returns stderr."""
    stderr = result.stderr.decode()
    assert result.returncode != 0, stderr
    assert result.stdout == b""
    assert "Traceback" not in stderr
    reason = [line for line in stderr.splitlines() if line.startswith("todo-api: ")]
    assert reason, stderr
    for word in words:
        assert word in stderr, stderr
    return stderr


def token_of(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# --- token --------------------------------------------------------------------------------------


async def test_token_prints_a_jwt_for_the_user(tmp_path: Path) -> None:
    before = int(time.time())

    token = token_of(await todo_api(tmp_path, "token", "alice", BETTER_AUTH_SECRET=SECRET))

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 3600
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert "iss" not in claims
    assert "aud" not in claims


async def test_token_ttl_sets_its_lifetime(tmp_path: Path) -> None:
    result = await todo_api(tmp_path, "token", "bob", "--ttl", "60", BETTER_AUTH_SECRET=SECRET)

    claims = jwt.decode(token_of(result), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "bob"
    assert claims["exp"] - claims["iat"] == 60


async def test_token_carries_the_configured_issuer_and_audience(tmp_path: Path) -> None:
    result = await todo_api(
        tmp_path,
        "token",
        "alice",
        BETTER_AUTH_SECRET=SECRET,
        JWT_ISSUER="https://auth.example.com",
        JWT_AUDIENCE="todo-api",
    )

    claims = jwt.decode(
        token_of(result),
        SECRET,
        algorithms=["HS256"],
        issuer="https://auth.example.com",
        audience="todo-api",
    )
    assert claims["sub"] == "alice"


@pytest.mark.parametrize("ttl", ["0", "-5"])
async def test_token_with_a_ttl_that_is_not_positive_fails(tmp_path: Path, ttl: str) -> None:
    result = await todo_api(tmp_path, "token", "alice", "--ttl", ttl, BETTER_AUTH_SECRET=SECRET)

    assert_clean_failure(result, "--ttl")


async def test_token_without_configured_auth_signs_with_a_generated_dev_secret(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "data" / "dev-secret"

    first = await todo_api(tmp_path, "token", "alice")
    assert secret_file.exists()
    secret = secret_file.read_text().strip()
    second = await todo_api(tmp_path, "token", "alice")

    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret) >= 32
    assert secret_file.read_text().strip() == secret
    for result in (first, second):
        assert jwt.decode(token_of(result), secret, algorithms=["HS256"])["sub"] == "alice"
    # It says where the secret is kept, and never what it is.
    assert str(secret_file) in first.stderr.decode()
    assert secret not in first.stderr.decode() + second.stderr.decode()


async def test_token_reads_the_secret_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BETTER_AUTH_SECRET={SECRET}\n")

    token = token_of(await todo_api(tmp_path, "token", "alice"))

    assert jwt.decode(token, SECRET, algorithms=["HS256"])["sub"] == "alice"
    assert not (tmp_path / "data" / "dev-secret").exists()


async def test_token_in_jwks_only_mode_fails_with_a_one_line_reason(tmp_path: Path) -> None:
    result = await todo_api(tmp_path, "token", "alice", BETTER_AUTH_URL="http://localhost:3000")

    stderr = assert_clean_failure(result, "BETTER_AUTH_SECRET")
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / "data" / "dev-secret").exists()


# --- migrate ------------------------------------------------------------------------------------


def sqlite_tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {row[0] for row in rows}


async def test_migrate_creates_the_schema_in_a_new_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "todo.db"
    url = f"sqlite+aiosqlite:///{path}"

    first = await todo_api(tmp_path, "migrate", DATABASE_URL=url)
    assert first.returncode == 0, first.stderr.decode()
    assert sqlite_tables(path) >= TABLES

    again = await todo_api(tmp_path, "migrate", DATABASE_URL=url)
    assert again.returncode == 0, again.stderr.decode()
    assert first.stdout == again.stdout == b""


async def test_migrate_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    result = await todo_api(tmp_path, "migrate")

    assert result.returncode == 0, result.stderr.decode()
    assert sqlite_tables(tmp_path / "data" / "todo.db") >= TABLES


async def test_migrate_creates_the_schema_in_a_new_postgres_database(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    for _ in range(2):
        result = await todo_api(tmp_path, "migrate", DATABASE_URL=fresh_postgres_url)
        assert result.returncode == 0, result.stderr.decode()

    dsn = make_url(fresh_postgres_url).render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    finally:
        await conn.close()
    assert {row["tablename"] for row in rows} >= TABLES


# --- bad configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["migrate"], ["token", "alice"], ["--port", "1"]])
@pytest.mark.parametrize(
    ("settings", "named"),
    [
        pytest.param({"BETTER_AUTH_URL": "not-a-url"}, "BETTER_AUTH_URL", id="auth-url"),
        pytest.param({"PUBLIC_URL": "ftp://x"}, "PUBLIC_URL", id="public-url"),
        pytest.param({"TODO_TASK_QUOTA": "zero"}, "TODO_TASK_QUOTA", id="quota"),
        pytest.param(
            {"BETTER_AUTH_JWKS_URL": "https://auth.example.com/jwks"},
            "JWT_ISSUER",
            id="jwks-without-issuer",
        ),
    ],
)
async def test_bad_setting_exits_with_a_clear_line(
    tmp_path: Path, command: list[str], settings: dict[str, str], named: str
) -> None:
    result = await todo_api(tmp_path, *command, BETTER_AUTH_SECRET=SECRET, **settings)

    assert_clean_failure(result, named)


@pytest.mark.parametrize("command", [["migrate"], ["--port", "1"]])
@pytest.mark.parametrize(
    "url",
    ["mysql://x", "not a url", "postgresql://localhost/db?sslmode=sometimes"],
)
async def test_bad_database_url_exits_with_a_clear_line(
    tmp_path: Path, command: list[str], url: str
) -> None:
    result = await todo_api(tmp_path, *command, BETTER_AUTH_SECRET=SECRET, DATABASE_URL=url)

    assert_clean_failure(result, "DATABASE_URL")


async def test_migrate_of_an_unreachable_database_exits_with_a_clear_line(tmp_path: Path) -> None:
    url = f"postgresql://nobody:hunter2@127.0.0.1:{free_port()}/todo"

    result = await todo_api(tmp_path, "migrate", DATABASE_URL=url)

    stderr = assert_clean_failure(result, "migration failed")
    assert "hunter2" not in stderr


# --- serving ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_until_healthy(client: httpx.AsyncClient, process: anyio.abc.Process) -> None:
    with anyio.fail_after(STARTUP_S):
        while True:
            assert process.returncode is None, "todo-api exited during start-up"
            try:
                response = await client.get("/health")
            except httpx.TransportError:
                await anyio.sleep(0.1)
                continue
            assert response.status_code == 200, response.text
            return


async def test_todo_api_serves_the_rest_api(tmp_path: Path) -> None:
    port = free_port()
    settings = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"}
    with (tmp_path / "server.log").open("wb") as log:
        process = await anyio.open_process(
            [str(TODO_API), "--port", str(port)],
            env=environment(tmp_path, **settings),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                await _wait_until_healthy(client, process)
                await _create_and_read_back(tmp_path, client, port, settings)
        finally:
            process.terminate()
            with anyio.fail_after(QUICK_EXIT_S):
                await process.wait()
    # Served without configured auth: the generated secret signed the token it accepted.
    assert (tmp_path / "data" / "dev-secret").exists()
    assert "Traceback" not in (tmp_path / "server.log").read_text()


async def _create_and_read_back(
    tmp_path: Path, client: httpx.AsyncClient, port: int, settings: dict[str, str]
) -> None:
    token = token_of(await todo_api(tmp_path, "token", "alice", **settings))
    headers = {"Authorization": f"Bearer {token}"}

    created = await client.post(
        "/api/alice/tasks", json={"title": "From a real server"}, headers=headers
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith(f"http://127.0.0.1:{port}/api/alice/tasks/")

    fetched = await client.get(location, headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert fetched.headers["etag"] == created.headers["etag"]
    assert (await client.get("/api/alice/tasks")).status_code == 401
