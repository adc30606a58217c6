"""Live events across real processes: a change made by one `todo-api` reaches a stream open
on another (PostgreSQL LISTEN/NOTIFY), through a transaction-mode PgBouncer with a listen URL,
after the LISTEN connection is killed, and from a stdio `todo-mcp` on the same SQLite file."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from sqlalchemy.engine import make_url

from http_adapter.auth import issue_token
from storage.change_feed import LISTENER_NAME
from tests.http_adapter.pgbouncer import pgbouncer, pgbouncer_path
from tests.support.api import SECRET, make_settings
from tests.support.environment import clean_environment
from tests.support.postgres import admin
from tests.support.processes import Server, todo_api_servers
from tests.support.sse import EventReader

ALICE = "alice"
TODO_MCP = Path(sys.executable).parent / "todo-mcp"
STDIO_S = 60
# Bounded: a reconnect backs off a few seconds at most.
EVENT_S = 20


def auth(database_url: str, tmp_path: Path, user: str = ALICE) -> dict[str, str]:
    settings = make_settings(database_url, tmp_path)
    return {"Authorization": f"Bearer {issue_token(settings, SECRET, user, 600)}"}


@asynccontextmanager
async def stream(server: Server, headers: dict[str, str]) -> AsyncIterator[EventReader]:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=EVENT_S) as client,
        client.stream("GET", f"/api/{ALICE}/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        # The first bytes (a comment) say the stream is subscribed: nothing can be missed after.
        reader = EventReader(response.aiter_text())
        await reader.next(include_comments=True)
        yield reader


async def add(server: Server, headers: dict[str, str], title: str) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=EVENT_S) as client:
        response = await client.post(f"/api/{ALICE}/tasks", json={"title": title}, headers=headers)
    assert response.status_code == 201, response.text
    task_id: int = response.json()["id"]
    return task_id


@pytest.mark.postgres_only
async def test_a_change_on_one_process_reaches_a_stream_on_another(
    database_url: str, tmp_path: Path
) -> None:
    headers = auth(database_url, tmp_path)
    async with (
        todo_api_servers(2, tmp_path, DATABASE_URL=database_url, BETTER_AUTH_SECRET=SECRET) as (
            one,
            two,
        ),
        stream(one, headers) as events,
    ):
        task_id = await add(two, headers, "from the other process")
        [change] = await events.changes(1, within_s=EVENT_S)
        assert change["task_id"] == task_id
        assert change["op"] == "created"

        # The LISTEN connection dies (as in a database restart) and cannot come back at once;
        # a change committed meanwhile reaches the stream once it is back.
        name = make_url(database_url).database
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND application_name = '{LISTENER_NAME}'"
            )
            await _wait_for_line(one, "cannot LISTEN")
            # The other process's pooled connections still write.
            later = await add(two, headers, "while one was not listening")
        finally:
            await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        [change] = await events.changes(1, within_s=EVENT_S)
        assert change["task_id"] == later
        assert "LISTEN connection was lost" in one.output()


async def _wait_for_line(server: Server, text: str) -> None:
    """Bounded: the server's log is read until it says `text`."""
    with anyio.fail_after(EVENT_S):
        # A log file written by another process has nothing to wait on but itself.
        while text not in server.output():  # noqa: ASYNC110
            await anyio.sleep(0.05)


@pytest.fixture(scope="module")
def pgbouncer_port(postgres_template: str | None) -> Iterator[int]:
    if postgres_template is None:
        pytest.skip("PostgreSQL does not answer")
    if pgbouncer_path() is None:
        if os.environ.get("TODO_REQUIRE_POSTGRES") == "1":
            pytest.fail("pgbouncer is required (TODO_REQUIRE_POSTGRES=1) but not installed")
        pytest.skip("pgbouncer is not installed")
    url = os.environ.get("TODO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with pgbouncer(url) as port:
        yield port


def through(port: int, database_url: str) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=port)
    return url.render_as_string(hide_password=False)


@pytest.mark.postgres_only
@pytest.mark.parametrize("listen", [True, False], ids=["listen-url", "polling"])
async def test_behind_pgbouncer_changes_still_reach_streams(
    database_url: str, pgbouncer_port: int, tmp_path: Path, listen: bool
) -> None:
    headers = auth(database_url, tmp_path)
    settings = {
        "DATABASE_URL": through(pgbouncer_port, database_url),
        "DATABASE_POOLER": "transaction",
        "BETTER_AUTH_SECRET": SECRET,
    }
    if listen:
        settings["DATABASE_LISTEN_URL"] = database_url
    async with (
        todo_api_servers(2, tmp_path, **settings) as (one, two),
        stream(one, headers) as events,
    ):
        task_id = await add(two, headers, "through the pooler")
        [change] = await events.changes(1, within_s=EVENT_S)
        assert change["task_id"] == task_id
        polled = "polled every 1 s" in one.output()
        assert polled is not listen


@pytest.mark.sqlite_only
async def test_a_stdio_server_on_the_same_file_feeds_a_stream(
    database_url: str, tmp_path: Path
) -> None:
    headers = auth(database_url, tmp_path)
    params = StdioServerParameters(
        command=str(TODO_MCP),
        args=["--user", ALICE],
        env=clean_environment(tmp_path / "stdio-data", DATABASE_URL=database_url),
        cwd=tmp_path,
    )
    async with (
        todo_api_servers(1, tmp_path, DATABASE_URL=database_url, BETTER_AUTH_SECRET=SECRET) as (
            api,
        ),
        stream(api, headers) as events,
    ):
        with anyio.fail_after(STDIO_S), (tmp_path / "todo-mcp.stderr").open("w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as streams,
                ClientSession(*streams) as session,
            ):
                await session.initialize()
                result = await session.call_tool("add_task", {"title": "from Claude Desktop"})
                assert not result.is_error
        [change] = await events.changes(1, within_s=EVENT_S)
        assert change["task"]["title"] == "from Claude Desktop"


@pytest.mark.sqlite_only
async def test_sigterm_ends_open_streams_without_waiting_out_the_grace_period(
    database_url: str, tmp_path: Path
) -> None:
    headers = auth(database_url, tmp_path)
    settings = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET}
    # A grace period longer than the bounded wait below: only ending the streams at once passes.
    async with (
        todo_api_servers(1, tmp_path, SHUTDOWN_GRACE_S="120", **settings) as (api,),
        stream(api, headers) as events,
    ):
        api.process.send_signal(signal.SIGTERM)
        await events.end(within_s=EVENT_S)
        with anyio.fail_after(EVENT_S):
            assert await api.process.wait() == 0
