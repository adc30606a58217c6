"""The application around the routes: root, health (also while the database is down), and the
problem documents for requests no route answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.api import Api, make_settings, running
from tests.support.postgres import admin_connection
from tests.support.problems import assert_problem

# Bounded waits while the database goes away and comes back.
OUTAGE_S = 20


@pytest.mark.sqlite_only
async def test_root_names_the_service_and_its_version(api: Api) -> None:
    response = await api.client.get("/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "version"}
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["version"] == version("todo-mcp")


async def test_health_is_ok_with_a_working_database(api: Api) -> None:
    response = await api.client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "path", ["/nope", "/api", "/api/alice", "/api/alice/nope", "/api/alice/tasks/1/x"]
)
async def test_unknown_route_is_a_not_found_problem(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=api.auth("alice"))

    assert_problem(response, 404)


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/alice/tasks", {"GET", "HEAD", "POST"}),
        ("PUT", "/api/alice/tasks", {"GET", "HEAD", "POST"}),
        ("POST", "/api/alice/tasks/1", {"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
        ("POST", "/health", {"GET", "HEAD"}),
        ("DELETE", "/", {"GET", "HEAD"}),
        ("PATCH", "/openapi.json", {"GET", "HEAD"}),
    ],
)
async def test_wrong_method_is_a_method_not_allowed_problem(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    response = await api.client.request(method, path, json={}, headers=api.auth("alice"))

    assert_problem(response, 405)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


async def test_head_is_answered_like_get(api: Api) -> None:
    alice = api.auth("alice")
    created = await api.client.post("/api/alice/tasks", json={"title": "x"}, headers=alice)
    assert created.status_code == 201, created.text

    for path in ("/api/alice/tasks", f"/api/alice/tasks/{created.json()['id']}", "/health", "/"):
        got = await api.client.get(path, headers=alice)
        head = await api.client.head(path, headers=alice)

        assert got.status_code == 200, got.text
        assert got.content
        assert (head.status_code, head.content) == (200, b"")
        # Every header GET sends, with the same value: Content-Length and ETag included (each
        # answer has a request id of its own).
        assert _but_request_id(head) == _but_request_id(got)
        assert head.headers["x-request-id"] != got.headers["x-request-id"]


def _but_request_id(response: httpx.Response) -> list[tuple[str, str]]:
    return [item for item in response.headers.multi_items() if item[0] != "x-request-id"]


# --- the database going away --------------------------------------------------------------------


async def _cut_off(conn: asyncpg.Connection, name: str) -> None:
    """Refuse new connections to `name` and end the ones it has."""
    await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )


async def _answers(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    """Poll `path` until it answers `status` (bounded by the caller's deadline)."""
    while True:
        response = await client.get(path)
        if response.status_code == status:
            return response
        await anyio.sleep(0.05)


@asynccontextmanager
async def app_on(url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_settings(url, tmp_path)) as api:
        # A task from before the outage, to find again after it.
        created = await api.client.post(
            "/api/alice/tasks", json={"title": "survives"}, headers=api.auth("alice")
        )
        assert created.status_code == 201
        yield api


async def _assert_unavailable_then_recovers(
    api: Api, restore: Callable[[], Awaitable[None]]
) -> None:
    with anyio.fail_after(OUTAGE_S):
        health = await _answers(api.client, "/health", 503)
    assert health.json() == {"status": "unavailable", "database": "unreachable"}
    for method, body in (("GET", None), ("POST", {"title": "lost"})):
        response = await api.client.request(
            method, "/api/alice/tasks", json=body, headers=api.auth("alice")
        )
        problem = assert_problem(response, 503)
        assert "unavailable" in problem["detail"]
    # Routes that need no database keep answering.
    assert (await api.client.get("/")).status_code == 200
    assert (await api.client.get("/openapi.json")).status_code == 200

    await restore()

    with anyio.fail_after(OUTAGE_S):
        health = await _answers(api.client, "/health", 200)
    assert health.json() == {"status": "ok", "database": "ok"}
    listing = await api.client.get("/api/alice/tasks", headers=api.auth("alice"))
    assert listing.status_code == 200
    assert [task["title"] for task in listing.json()] == ["survives"]


async def test_health_reports_a_database_that_went_away_and_recovers(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    name = make_url(fresh_postgres_url).database
    assert name is not None
    away = f"{name}_away"

    async def restore() -> None:
        async with admin_connection() as conn:
            await conn.execute(f'ALTER DATABASE "{away}" RENAME TO "{name}"')

    async with app_on(fresh_postgres_url, tmp_path) as api:
        async with admin_connection() as conn:
            await _cut_off(conn, name)
            await conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{away}"')
            await conn.execute(f'ALTER DATABASE "{away}" ALLOW_CONNECTIONS true')
        try:
            await _assert_unavailable_then_recovers(api, restore)
        finally:
            async with (
                admin_connection() as conn
            ):  # leave it for the fixture to drop, whatever happened
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", away)
                if exists:
                    await conn.execute(f'ALTER DATABASE "{away}" RENAME TO "{name}"')


async def test_health_reports_a_database_refusing_connections_and_recovers(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    name = make_url(fresh_postgres_url).database
    assert name is not None

    async def allow() -> None:
        async with admin_connection() as conn:
            await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    async with app_on(fresh_postgres_url, tmp_path) as api:
        async with admin_connection() as conn:
            await _cut_off(conn, name)
        try:
            with anyio.fail_after(OUTAGE_S):
                # Twice: once on the pool's dead connection, once on a refused new one.
                for _ in range(2):
                    health = await _answers(api.client, "/health", 503)
                    assert health.json() == {"status": "unavailable", "database": "unreachable"}
            assert (await api.client.get("/")).status_code == 200
        finally:
            await allow()
        with anyio.fail_after(OUTAGE_S):
            await _answers(api.client, "/health", 200)
        listing = await api.client.get("/api/alice/tasks", headers=api.auth("alice"))
        assert [task["title"] for task in listing.json()] == ["survives"]


async def test_task_routes_answer_503_while_the_database_refuses_connections(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    name = make_url(fresh_postgres_url).database
    assert name is not None

    async with app_on(fresh_postgres_url, tmp_path) as api:
        async with admin_connection() as conn:
            await _cut_off(conn, name)
        try:
            with anyio.fail_after(OUTAGE_S):
                await _answers(api.client, "/health", 503)  # uses up the pool's dead connection
            response = await api.client.get("/api/alice/tasks", headers=api.auth("alice"))
            assert_problem(response, 503)
        finally:
            async with admin_connection() as conn:
                await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_health_reports_a_sqlite_file_that_went_away_and_came_back(tmp_path: Path) -> None:
    path = tmp_path / "todo.db"
    away = tmp_path / "todo.db.away"
    async with app_on(f"sqlite+aiosqlite:///{path}", tmp_path) as api:
        # The pool's open connection would still answer `SELECT 1` from its file handle.
        path.rename(away)
        unavailable = await api.client.get("/health")
        away.rename(path)
        ok = await api.client.get("/health")

    assert unavailable.status_code == 503, unavailable.text
    assert unavailable.json() == {"status": "unavailable", "database": "unreachable"}
    assert ok.status_code == 200, ok.text
