"""Fixtures shared by every test: a fresh, migrated database per test on SQLite and PostgreSQL.

The schema is migrated once per run into a template (a file on SQLite, a template database on
PostgreSQL) and each test gets its own copy, so tests are isolated and still quick.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from storage.database import Database
from storage.migrate import migrate
from storage.tasks import TaskRepository
from tests.http_adapter.support import Api, ApiFactory, make_settings, running

POSTGRES_URL = os.environ.get(
    "TODO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("TODO_REQUIRE_POSTGRES") == "1"
# For messages: the URL without its password.
SHOWN_POSTGRES_URL = make_url(POSTGRES_URL).render_as_string(hide_password=True)
BACKENDS = ("sqlite", "postgres")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _admin_dsn() -> str:
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)


def _database_url(name: str) -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql", database=name)
    return url.render_as_string(hide_password=False)


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """The name of a migrated template database, or None when PostgreSQL does not answer."""
    name = f"todo_template_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(
                f"PostgreSQL is required but does not answer at {SHOWN_POSTGRES_URL}: {exc}"
            )
        yield None
        return
    try:
        asyncio.run(_migrate(_database_url(name)))
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "todo.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def fresh_postgres_url(postgres_template: str | None) -> Iterator[str]:
    """An empty (unmigrated) PostgreSQL database of this test's own."""
    if postgres_template is None:
        pytest.skip(f"PostgreSQL does not answer at {SHOWN_POSTGRES_URL}")
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _database_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: str | None,
) -> Iterator[str]:
    """A migrated database of this test's own, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "todo.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if postgres_template is None:
        pytest.skip(f"PostgreSQL does not answer at {SHOWN_POSTGRES_URL}")
    name = f"todo_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield _database_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def tasks(db: Database) -> TaskRepository:
    return TaskRepository(db)


@pytest.fixture
def api_factory(database_url: str, tmp_path: Path) -> ApiFactory:
    """Build `todo-api` on this test's database with other settings (env names as keys)."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[Api]:
        return running(make_settings(database_url, tmp_path, **overrides))

    return factory


@pytest.fixture
async def api(api_factory: ApiFactory) -> AsyncIterator[Api]:
    """`todo-api` on this test's database (SQLite and PostgreSQL), HS256 auth with SECRET."""
    async with api_factory() as running_api:
        yield running_api
