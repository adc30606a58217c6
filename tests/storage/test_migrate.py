"""Bringing the schema up to date: cheaply at head, correctly from scratch, safely in parallel."""

from __future__ import annotations

import re
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from sqlalchemy import event
from sqlmodel import SQLModel

import storage.migrate
import storage.models  # puts the tables on SQLModel.metadata
from storage.change_notify import notifier
from storage.changes import ChangeExpiredError, ChangeLog
from storage.database import Database
from storage.errors import QuotaExceededError, StorageUnavailableError
from storage.migrate import migrate
from storage.migrations import HEAD
from storage.models import Task, TaskCreate
from storage.tasks import TaskRepository

NOW = datetime(2026, 11, 27, tzinfo=UTC)
VERSION_QUERY = sa.text("SELECT version_num FROM alembic_version")

# Migrates the database at argv[1] once stdin says go, then reports whether Alembic was imported.
MIGRATE_SCRIPT = """
import sys

import anyio

from storage.database import Database
from storage.migrate import migrate


async def main(url: str) -> None:
    db = Database(url)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        await migrate(db)
    finally:
        await db.dispose()


anyio.run(main, sys.argv[1])
print("alembic imported" if "alembic" in sys.modules else "alembic not imported", flush=True)
"""


class MigratingProcess:
    """`python -c MIGRATE_SCRIPT url`, held at its start line until `go()`."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)

    async def ready(self) -> None:
        try:
            line = await self._stdout.receive_until(b"\n", 1000)
        except anyio.IncompleteRead:
            line = b""
        if line != b"ready":
            await self.finish()  # shows the child's stderr if it failed
            pytest.fail(f"the migrating process said {line!r}, not 'ready'")

    async def go(self) -> None:
        await self._stdin.send(b"go\n")

    async def finish(self) -> str:
        """Wait for a successful exit and return what was printed after "ready"."""
        output = bytearray()
        try:
            while True:
                output += await self._stdout.receive()
        except anyio.EndOfStream:
            pass
        code = await self.process.wait()
        assert self.process.stderr is not None
        errors = b""
        try:
            while True:
                errors += await self.process.stderr.receive()
        except anyio.EndOfStream:
            pass
        assert code == 0, errors.decode()
        return output.decode().strip()


async def run_migrating_processes(url: str, count: int) -> list[str]:
    """Start `count` processes, let them all migrate at once, and return what each reported."""
    command = [sys.executable, "-W", "error", "-c", MIGRATE_SCRIPT, url]
    with anyio.fail_after(120):
        async with AsyncExitStack() as stack:
            processes = [
                MigratingProcess(await stack.enter_async_context(await anyio.open_process(command)))
                for _ in range(count)
            ]
            for process in processes:
                await process.ready()
            for process in processes:
                await process.go()
            return [await process.finish() for process in processes]


async def versions(url: str) -> list[str]:
    db = Database(url)
    try:
        async with db.autocommit() as conn:
            return list((await conn.execute(VERSION_QUERY)).scalars())
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, never migrated database on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def test_head_constant_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    script = ScriptDirectory.from_config(config)

    assert script.get_heads() == [HEAD]


def _schema_differences(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_schema_matches_the_models(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        await migrate(db)
        async with db.autocommit() as conn:
            differences = await conn.run_sync(_schema_differences)
            version = list((await conn.execute(VERSION_QUERY)).scalars())
    finally:
        await db.dispose()

    assert differences == []
    assert version == [HEAD]


def _upgrade_to(revision: str) -> Any:
    def upgrade(connection: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", "storage:migrations")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


async def test_the_task_count_migration_counts_the_tasks_already_there(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        async with db.writing() as conn:
            await conn.run_sync(_upgrade_to("0001_initial"))
            # Tasks as the first schema stored them (the task table has not changed since).
            await conn.execute(
                sa.insert(Task.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "user_id": user,
                        "title": f"task {n}",
                        "title_key": f"task {n}",
                        "completed": False,
                        "priority": "medium",
                        "tags": [],
                        "version": 1,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for user, how_many in (("alice", 3), ("bob", 1))
                    for n in range(how_many)
                ],
            )
        await migrate(db)
        async with db.autocommit() as conn:
            rows = await conn.execute(sa.text("SELECT user_id, tasks FROM task_count"))
            counts: dict[str, int] = dict(rows.all())
        assert counts == {"alice": 3, "bob": 1}

        # And they are the counts the quota goes by from now on.
        tasks = TaskRepository(db, quota=3)
        with pytest.raises(QuotaExceededError):
            await tasks.create("alice", TaskCreate(title="a fourth"))
        await tasks.create("bob", TaskCreate(title="a second"))
    finally:
        await db.dispose()


async def test_the_change_log_goes_on_from_where_its_counter_was(fresh_url: str) -> None:
    """A log numbered by the counter (revision 0007), some of it pruned: after the upgrade new
    changes come after the last number issued, and a cursor below what was pruned is told so."""
    db = Database(fresh_url)
    try:
        async with db.writing() as conn:
            await conn.run_sync(_upgrade_to("0007_changes"))
            # Changes 1-41 issued, 1-29 pruned since.
            await conn.execute(
                sa.text(
                    "INSERT INTO change (seq, user_id, op, task_id, version, task, at) "
                    "VALUES (:seq, 'alice', 'deleted', :task_id, 1, NULL, :at)"
                ),
                [{"seq": seq, "task_id": seq, "at": NOW} for seq in range(30, 42)],
            )
            await conn.execute(sa.text("UPDATE change_head SET seq = 41"))
        await migrate(db)
        task = await TaskRepository(db).create("alice", TaskCreate(title="after the upgrade"))
        log = ChangeLog(db)

        page = await log.since("alice", 41, 10)
        assert [(c.seq, c.task_id) for c in page.changes] == [(42, task.id)]
        assert len((await log.since("alice", 29, 100)).changes) == 13
        with pytest.raises(ChangeExpiredError):
            await log.since("alice", 28, 10)
    finally:
        await db.dispose()


async def test_freshly_migrated_database_stores_tasks(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        await migrate(db)
        tasks = TaskRepository(db)
        task = await tasks.create("alice", TaskCreate(title="first"))
        assert await tasks.get("alice", task.id) == task
    finally:
        await db.dispose()


async def test_migrating_an_up_to_date_database_costs_one_query_and_keeps_data(
    db: Database, tasks: TaskRepository
) -> None:
    task = await tasks.create("alice", TaskCreate(title="keep me"))
    await notifier(db).flush()  # the create's NOTIFY (PostgreSQL) is no part of migrating
    await db.ping()  # the first connection's own set-up is not the migration's cost
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engines = {db.engine.sync_engine, db.autocommit_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        await migrate(db)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)

    # Cost guard: start-up on an up-to-date database is one query, a read of the schema's
    # version (the README promises it). How that query is worded is free.
    assert len(statements) == 1, statements
    assert re.match(r"\s*select\b", statements[0], re.IGNORECASE), statements
    assert "alembic_version" in statements[0]
    assert await tasks.get("alice", task.id) == task


async def test_migrating_an_up_to_date_database_does_not_import_alembic(
    database_url: str,
) -> None:
    assert await run_migrating_processes(database_url, 1) == ["alembic not imported"]


async def test_migrating_a_fresh_database_does_import_alembic(fresh_url: str) -> None:
    # The counterpart of the test above: shows the check can see an import.
    assert await run_migrating_processes(fresh_url, 1) == ["alembic imported"]


async def test_two_processes_migrating_one_fresh_database_both_succeed(fresh_url: str) -> None:
    await run_migrating_processes(fresh_url, 2)  # each process must exit with 0

    assert await versions(fresh_url) == [HEAD]
    db = Database(fresh_url)
    try:
        async with db.autocommit() as conn:
            assert await conn.run_sync(_schema_differences) == []
    finally:
        await db.dispose()


async def test_migrating_an_unreachable_database_is_unavailable() -> None:
    db = Database("postgresql://todo@127.0.0.1:1/todo")
    try:
        with anyio.fail_after(3), pytest.raises(StorageUnavailableError):
            await migrate(db)
    finally:
        await db.dispose()


async def test_a_failed_migration_does_not_keep_the_sqlite_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wait for the lock briefly, so a lock left held fails this test quickly.
    monkeypatch.setattr(storage.migrate, "_LOCK_WAIT_S", 2)
    url = f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}"
    db = Database(url)
    try:
        async with db.writing() as conn:
            await conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            await conn.execute(sa.text("INSERT INTO alembic_version VALUES ('from_the_future')"))
        with pytest.raises(CommandError, match="from_the_future"):
            await migrate(db)

        # A server retrying after the failure must get the lock again.
        async with db.writing() as conn:
            await conn.execute(sa.text("DELETE FROM alembic_version"))
        with anyio.fail_after(10):
            await migrate(db)
    finally:
        await db.dispose()

    assert await versions(url) == [HEAD]
