"""`todo-api` as people run it: the console script in a real process, for `token`, `migrate`,
bad configuration and serving."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import anyio
import asyncpg
import httpx
import jwt
import pytest
from sqlalchemy.engine import make_url

from tests.support.deadlines import deadline
from tests.support.environment import clean_environment
from tests.support.processes import TODO_API, refused_port, serving, todo_api_process

SECRET = "a-secret-for-the-cli-tests-0123456789abcdef"
# Generous: a cold start imports the whole stack; a hang still fails instead of blocking.
QUICK_EXIT_S = deadline(90)
TABLES = {"task", "conversation", "message", "idempotency_key", "alembic_version"}


async def todo_api(
    tmp_path: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[bytes]:
    """Run `todo-api ARGS` to completion in `tmp_path` (away from any project .env)."""
    with anyio.fail_after(QUICK_EXIT_S):
        return await anyio.run_process(
            [str(TODO_API), *args],
            env=clean_environment(tmp_path / "data", **settings),
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
        pytest.param({"DATABASE_POOLER": "session"}, "DATABASE_POOLER", id="pooler"),
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
    with refused_port() as port:
        url = f"postgresql://nobody:hunter2@127.0.0.1:{port}/todo"
        result = await todo_api(tmp_path, "migrate", DATABASE_URL=url)

    stderr = assert_clean_failure(result, "migration failed")
    assert "hunter2" not in stderr


# --- serving ------------------------------------------------------------------------------------


async def test_todo_api_serves_the_rest_api(tmp_path: Path) -> None:
    settings = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"}
    env = clean_environment(tmp_path / "data", **settings)
    async with (
        serving([str(TODO_API), "--port", "0"], env=env, cwd=tmp_path) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        health = await client.get("/health")
        assert health.status_code == 200, health.text
        await _create_and_read_back(tmp_path, client, server.url, settings)
    # Served without configured auth: the generated secret signed the token it accepted.
    assert (tmp_path / "data" / "dev-secret").exists()
    assert "Traceback" not in server.output()


async def _create_and_read_back(
    tmp_path: Path, client: httpx.AsyncClient, base_url: str, settings: dict[str, str]
) -> None:
    token = token_of(await todo_api(tmp_path, "token", "alice", **settings))
    headers = {"Authorization": f"Bearer {token}"}

    created = await client.post(
        "/api/alice/tasks", json={"title": "From a real server"}, headers=headers
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith(f"{base_url}/api/alice/tasks/")

    fetched = await client.get(location, headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert fetched.headers["etag"] == created.headers["etag"]
    assert (await client.get("/api/alice/tasks")).status_code == 401


async def test_host_chooses_the_address_todo_api_listens_on(tmp_path: Path) -> None:
    # 127.0.0.2 is loopback too, but not the default 127.0.0.1: only --host can bind it.
    env = clean_environment(
        tmp_path / "data", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'host.db'}"
    )
    command = [str(TODO_API), "--host", "127.0.0.2", "--port", "0"]
    async with serving(command, env=env, cwd=tmp_path) as server:
        await assert_listens_only_on(server.url, "127.0.0.2")


async def assert_listens_only_on(url: str, host: str) -> None:
    """The server at `url` answers on `host` and not on the default 127.0.0.1."""
    parts = httpx.URL(url)
    assert parts.host == host, url
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/health")
        assert response.status_code == 200, response.text
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{parts.port}/health")


# --- start-up: waiting for the database ---------------------------------------------------------


async def _forward(client: anyio.abc.SocketStream, target_port: int) -> None:
    """Pipe one connection to PostgreSQL both ways."""
    async with client, await anyio.connect_tcp("127.0.0.1", target_port) as upstream:

        async def pump(source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream) -> None:
            try:
                async for chunk in source:
                    await sink.send(chunk)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await sink.send_eof()

        async with anyio.create_task_group() as group:
            group.start_soon(pump, client, upstream)
            group.start_soon(pump, upstream, client)


async def test_todo_api_waits_for_a_database_that_becomes_reachable(
    tmp_path: Path, fresh_postgres_url: str
) -> None:

    real = make_url(fresh_postgres_url)
    port = _unused_port()  # nothing listens here until the forwarder below starts
    url = real.set(port=port).render_as_string(hide_password=False)
    async with todo_api_process(
        tmp_path, DATABASE_URL=url, DATABASE_WAIT_S="60", BETTER_AUTH_SECRET=SECRET
    ) as server:
        await server.wait_for_line(lambda line: "attempt 2 failed" in line)
        assert server.process.returncode is None
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, lambda c: _forward(c, real.port or 5432))
            await server.wait_until_serving()
            async with httpx.AsyncClient(base_url=server.url) as client:
                health = await client.get("/health")
            assert health.status_code == 200, health.text
            server.process.terminate()
            assert await server.wait_for_exit() == 0
            group.cancel_scope.cancel()
    retries = [line for line in server.lines if "database not reachable" in line]
    assert len(retries) >= 2
    assert all("Connect call failed" in line for line in retries), retries
    assert "Traceback" not in server.stderr


async def test_todo_api_gives_up_on_an_unreachable_database_with_one_line(
    tmp_path: Path,
) -> None:
    with refused_port() as refused:
        url = f"postgresql://nobody:hunter2@127.0.0.1:{refused}/todo"
        started = time.monotonic()

        result = await todo_api(tmp_path, "--port", "0", DATABASE_URL=url, DATABASE_WAIT_S="1.5")

    waited = time.monotonic() - started
    stderr = assert_clean_failure(result, "not reachable after waiting 1.5 s")
    assert [line for line in stderr.splitlines() if line.startswith("todo-api: ")] == [
        stderr.strip().splitlines()[-1]
    ]
    assert "database not reachable" in stderr  # one line per retry before it
    assert "hunter2" not in stderr
    assert waited >= 1.5


async def test_a_sqlite_database_that_cannot_be_opened_is_not_waited_for(tmp_path: Path) -> None:
    target = tmp_path / "a-directory.db"
    target.mkdir()  # a directory where the database file should be
    started = time.monotonic()

    result = await todo_api(tmp_path, "--port", "0", DATABASE_URL=f"sqlite+aiosqlite:///{target}")

    assert_clean_failure(result, "not reachable")
    assert time.monotonic() - started < QUICK_EXIT_S / 2  # not DATABASE_WAIT_S's 30 s more


# --- serving: $PORT, private files --------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_todo_api_listens_on_port_and_keeps_its_files_private(tmp_path: Path) -> None:

    data = tmp_path / "data"
    # No --port and no DATABASE_URL; PORT=0 lets the kernel pick, and the server reports it:
    # were PORT ignored, it would report the default 8000.
    async with todo_api_process(tmp_path, PORT="0") as server:
        await server.wait_until_serving()
        assert server.port != 8000
        token = token_of(await todo_api(tmp_path, "token", "alice"))
        async with httpx.AsyncClient(base_url=server.url) as client:
            created = await client.post(
                "/api/alice/tasks",
                json={"title": "Private"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert created.status_code == 201, created.text
        # While the server runs, the write-ahead log and its index exist beside the database.
        files = ["todo.db", "todo.db-wal", "todo.db-shm", "dev-secret"]
        modes = {name: _mode(data / name) for name in files}
        server.process.terminate()
        assert await server.wait_for_exit() == 0

    assert _mode(data) == 0o700
    assert modes == dict.fromkeys(files, 0o600)
    assert all(_mode(path) & 0o077 == 0 for path in data.iterdir())
    assert "Traceback" not in server.stderr


def _unused_port() -> int:
    """A port nothing listens on now, for a listener the test itself opens later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
