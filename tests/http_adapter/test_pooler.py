"""`DATABASE_POOLER=transaction`: REST, /mcp and chat through a real PgBouncer in transaction
mode, under concurrent load, and migrations through it."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage.database import Database
from storage.migrate import migrate
from storage.migrations import HEAD
from tests.http_adapter.pgbouncer import pgbouncer, pgbouncer_path
from tests.support.api import make_settings, mcp_client, running
from tests.support.fake_gemini import FakeGemini, ModelRequest, Reply, call, text

LOAD_S = 120
USERS = [f"user-{n}" for n in range(8)]


@pytest.fixture(scope="session")
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
    """The same database, reached through the pooler."""
    url = make_url(database_url).set(host="127.0.0.1", port=port)
    return url.render_as_string(hide_password=False)


def add_then_answer(request: ModelRequest) -> Reply:
    """The model adds a task named by the message, then says it is done."""
    if request.function_responses():
        return text("Added.")
    return call("add_task", {"title": request.last_user_text()})


@pytest.mark.postgres_only
async def test_rest_mcp_and_chat_under_load_through_pgbouncer(
    database_url: str, pgbouncer_port: int, tmp_path: Path
) -> None:
    statuses: Counter[int] = Counter()
    tool_errors: list[str] = []
    with FakeGemini() as fake:
        fake.respond(add_then_answer)
        settings = make_settings(
            through(pgbouncer_port, database_url),
            tmp_path,
            DATABASE_POOLER="transaction",
            GEMINI_API_KEY="test-key",
            GEMINI_BASE_URL=fake.url,
            CHAT_RATE_LIMIT="1000",
        )
        async with running(settings) as api:

            async def rest(n: int) -> None:
                user = USERS[n % len(USERS)]
                base = f"/api/{user}/tasks"
                headers = api.auth(user)
                title = f"t{n}"
                if n % 3 == 0:  # pairs of creates with one key (and the same user and body)
                    user = USERS[n // 6 % len(USERS)]
                    base = f"/api/{user}/tasks"
                    headers = {**api.auth(user), "Idempotency-Key": f"key-{n // 6}"}
                    title = f"k{n // 6}"
                created = await api.client.post(base, json={"title": title}, headers=headers)
                statuses[created.status_code] += 1
                if created.status_code != 201:
                    return
                task_url = f"{base}/{created.json()['id']}"
                for response in (
                    await api.client.get(base, params={"q": "t"}, headers=api.auth(user)),
                    await api.client.get(task_url, headers=api.auth(user)),
                    await api.client.patch(
                        task_url, json={"completed": True}, headers=api.auth(user)
                    ),
                ):
                    statuses[response.status_code] += 1
                if n % 4 == 1 and n % 3:  # 20 of the creates without a key (counts go down too)
                    deleted = await api.client.delete(task_url, headers=api.auth(user))
                    statuses[deleted.status_code] += 1

            async def mcp(n: int) -> None:
                user = USERS[n % len(USERS)]
                async with mcp_client(api, api.auth(user), within_s=LOAD_S) as client:
                    for result in (
                        await client.call_tool(
                            "add_task", {"title": f"m{n}"}, raise_on_error=False
                        ),
                        await client.call_tool("list_tasks", {}, raise_on_error=False),
                    ):
                        if result.is_error:
                            tool_errors.append(str(result.content))

            async def chat(n: int) -> None:
                user = USERS[n % len(USERS)]
                response = await api.client.post(
                    f"/api/{user}/chat", json={"message": f"c{n}"}, headers=api.auth(user)
                )
                statuses[response.status_code] += 1

            with anyio.fail_after(LOAD_S):
                async with anyio.create_task_group() as group:
                    for n in range(120):
                        group.start_soon(rest, n)
                    for n in range(20):
                        group.start_soon(mcp, n)
                    for n in range(20):
                        group.start_soon(chat, n)

            totals = 0
            for user in USERS:
                listed = await api.client.get(f"/api/{user}/tasks", headers=api.auth(user))
                totals += int(listed.headers["x-total-count"])

    assert not tool_errors
    assert {status for status in statuses if status >= 500} == set(), statuses
    assert set(statuses) <= {200, 201, 204, 409}, statuses
    assert statuses[204] == 20
    # 80 creates without a key (20 then deleted), 20 keys used twice (each pair shares one
    # user and body), 20 MCP add_task calls, 20 chat turns.
    assert totals == 80 - 20 + 20 + 20 + 20


async def test_a_new_database_is_migrated_through_pgbouncer(
    fresh_postgres_url: str, pgbouncer_port: int
) -> None:
    db = Database(through(pgbouncer_port, fresh_postgres_url), pooler="transaction")
    try:
        await migrate(db)
        await migrate(db)  # at head: the cheap check, through the pooler too
        async with db.autocommit() as conn:
            revision = (
                await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            ).scalar()
    finally:
        await db.dispose()
    assert revision == HEAD
