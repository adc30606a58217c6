"""Fixtures shared by every test: a fresh, migrated database per test on SQLite and PostgreSQL,
and a product configured by the test alone.

The schema is migrated once per run into a template (a file on SQLite, a template database on
PostgreSQL) and each test gets its own copy, so tests are isolated and still quick.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from storage.database import Database
from storage.migrate import migrate
from storage.tasks import TaskRepository
from tests.support.api import Api, ApiFactory, make_settings, running
from tests.support.environment import configures_the_product
from tests.support.markers import ProcessGuard, mark_process_tests
from tests.support.postgres import (
    REQUIRE_POSTGRES,
    SHOWN_POSTGRES_URL,
    admin,
    database_url_of,
    scratch_name,
)

BACKENDS = ("sqlite", "postgres")
_PROCESS_GUARD = ProcessGuard()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Before `-m` selects: tests that start processes are marked `process`."""
    mark_process_tests(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    _PROCESS_GUARD.current = item
    try:
        return (yield)
    finally:
        _PROCESS_GUARD.current = None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on a database runs on each backend, unless marked `sqlite_only` or
    `postgres_only`."""
    if "database_url" in metafunc.fixturenames:
        backends: tuple[str, ...] = BACKENDS
        if metafunc.definition.get_closest_marker("sqlite_only") is not None:
            backends = ("sqlite",)
        elif metafunc.definition.get_closest_marker("postgres_only") is not None:
            backends = ("postgres",)
        metafunc.parametrize("database_url", backends, indirect=True)


@pytest.fixture(scope="session", autouse=True)
def configured_by_the_tests_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing of the developer's configuration reaches the product: every environment
    variable it reads is removed for the run, and the working directory is an empty one, so
    no `.env` is found either (settings built in tests also pass `_env_file=None`)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if configures_the_product(name):
                patch.delenv(name)
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """The name of a migrated template database, or None when PostgreSQL does not answer."""
    name = scratch_name("template")
    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(
                f"PostgreSQL is required but does not answer at {SHOWN_POSTGRES_URL}: {exc}"
            )
        yield None
        return
    try:
        asyncio.run(_migrate(database_url_of(name)))
        yield name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
    name = scratch_name("test")
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url_of(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: str | None,
) -> Iterator[str]:
    """A migrated database of this test's own, on each backend in turn (see
    `pytest_generate_tests`)."""
    if request.param == "sqlite":
        path = tmp_path / "todo.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if postgres_template is None:
        pytest.skip(f"PostgreSQL does not answer at {SHOWN_POSTGRES_URL}")
    name = scratch_name("test")
    asyncio.run(admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield database_url_of(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
