"""The database: the URLs users write, SQLite's settings, what an unusable database looks like."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage.database import Database, DatabaseURLError, default_url, resolve_url
from storage.errors import StorageError, StorageUnavailableError
from storage.models import TaskCreate, TaskQuery, TaskUpdate
from storage.tasks import TaskRepository

# Nothing listens on port 1, so connecting is refused at once.
CLOSED_PORT_URL = "postgresql://todo:s3cret@127.0.0.1:1/todo"

# --- resolve_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://todo:pw@db.example:5433/tasks",
        "postgresql://todo:pw@db.example:5433/tasks",
        "postgresql+asyncpg://todo:pw@db.example:5433/tasks",
    ],
)
def test_every_postgres_scheme_means_asyncpg(raw: str) -> None:
    url, connect_args = resolve_url(raw)

    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "todo",
        "pw",
        "db.example",
        5433,
        "tasks",
    )
    assert "ssl" not in connect_args


@pytest.mark.parametrize("raw", ["sqlite:///data/todo.db", "sqlite+aiosqlite:///data/todo.db"])
def test_sqlite_urls_mean_aiosqlite(raw: str) -> None:
    url, connect_args = resolve_url(raw)

    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == "data/todo.db"
    assert connect_args == {}


def test_neon_style_url_requires_tls_and_leaves_no_libpq_options_for_asyncpg() -> None:
    url, connect_args = resolve_url(
        "postgresql://todo:pw@ep-cool-1.eu.aws.neon.tech/neondb"
        "?sslmode=require&channel_binding=require"
    )

    assert url.drivername == "postgresql+asyncpg"
    assert connect_args["ssl"] == "require"
    assert "sslmode" not in url.query
    assert "channel_binding" not in url.query
    assert "sslmode" not in url.render_as_string()
    assert "channel_binding" not in url.render_as_string()


def test_channel_binding_require_alone_still_requires_tls() -> None:
    url, connect_args = resolve_url("postgresql://h/db?channel_binding=require")

    assert connect_args["ssl"] == "require"
    assert dict(url.query) == {}


def test_channel_binding_keeps_a_stricter_sslmode() -> None:
    _, connect_args = resolve_url("postgresql://h/db?sslmode=verify-full&channel_binding=require")

    assert connect_args["ssl"] == "verify-full"


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer"])
def test_channel_binding_require_with_tls_turned_off_is_refused(sslmode: str) -> None:
    with pytest.raises(DatabaseURLError, match="channel_binding"):
        resolve_url(f"postgresql://h/db?sslmode={sslmode}&channel_binding=require")


@pytest.mark.parametrize("sslmode", ["disable", "prefer", "require", "verify-ca", "verify-full"])
def test_sslmode_becomes_asyncpgs_ssl_argument(sslmode: str) -> None:
    url, connect_args = resolve_url(f"postgresql://h/db?sslmode={sslmode}&command_timeout=5")

    assert connect_args["ssl"] == sslmode
    assert dict(url.query) == {"command_timeout": "5"}


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://h/db?sslmode=required",
        "postgresql://h/db?sslmode=require&sslmode=disable",
        "postgresql://h/db?channel_binding=requir",
    ],
)
def test_ssl_options_libpq_would_refuse_are_refused(raw: str) -> None:
    # Guessing what a misspelt option meant could mean connecting without TLS.
    with pytest.raises(DatabaseURLError):
        resolve_url(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "mysql://todo:s3cret@h/db",
        "postgresql+psycopg://todo:s3cret@h/db",
        "sqlite+pysqlite:///todo.db",
        "not a url",
        "",
    ],
)
def test_unsupported_urls_are_refused_without_echoing_secrets(raw: str) -> None:
    with pytest.raises(DatabaseURLError) as caught:
        resolve_url(raw)

    assert "s3cret" not in str(caught.value)


def test_postgres_connections_give_up_after_a_timeout() -> None:
    _, connect_args = resolve_url("postgresql://h/db")

    assert 0 < connect_args["timeout"] <= 30


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    db = Database(default_url(tmp_path / "data"))

    assert db.is_sqlite
    assert db.sqlite_path == tmp_path / "data" / "todo.db"
    assert (tmp_path / "data").is_dir()


# --- SQLite settings --------------------------------------------------------------------------


async def test_sqlite_file_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'todo.db'}")
    try:
        async with db.autocommit() as conn:
            read_settings = await _sqlite_settings(conn)
        async with db.writing() as conn:
            write_settings = await _sqlite_settings(conn)
    finally:
        await db.dispose()

    assert read_settings == write_settings == ("wal", 1)
    assert (tmp_path / "nested" / "todo.db").is_file()


async def _sqlite_settings(conn: Any) -> tuple[str, int]:
    journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
    foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
    return journal, foreign_keys


# Opens a new SQLite file per round in every process at once. Each process meets the others at
# a barrier (a file each in a rendezvous directory; the last to arrive releases all) placed
# inside the connection's set-up, right after the file is opened and before the product's own
# set-up switches it to WAL: the switches overlap as closely as processes can make them.
OPEN_AT_ONCE_SCRIPT = """
import os
import sys
import time

import anyio
from sqlalchemy import event

from storage.database import Database


def barrier(directory: str, name: str, parties: int) -> None:
    os.close(os.open(f"{directory}/{name}.{os.getpid()}", os.O_CREAT | os.O_WRONLY, 0o600))
    deadline = time.monotonic() + 60
    # Spins rather than sleeps: a sleep would not wake the processes closely enough.
    while sum(entry.startswith(name + ".") for entry in os.listdir(directory)) < parties:
        if time.monotonic() > deadline:
            sys.exit(f"not every process reached {name}")


async def main(directory: str, rendezvous: str, parties: int, rounds: int) -> None:
    for round in range(rounds):
        db = Database(f"sqlite+aiosqlite:///{directory}/round{round}.db")
        event.listen(
            db.autocommit_engine.sync_engine,
            "connect",
            lambda *_, name=f"round{round}": barrier(rendezvous, name, parties),
            insert=True,  # before the product's own set-up of the connection
        )
        try:
            async with db.autocommit() as conn:
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        finally:
            await db.dispose()
        assert mode == "wal", mode


anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
"""


async def test_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    # Switching a new file to WAL from two processes at once makes SQLite answer "database is
    # locked" to one of them at once, busy timeout or not, so 30 rounds of it find out.
    parties, rounds = 3, 30
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    command = [
        sys.executable,
        "-W",
        "error",
        "-c",
        OPEN_AT_ONCE_SCRIPT,
        str(tmp_path),
        str(rendezvous),
        str(parties),
        str(rounds),
    ]
    with anyio.fail_after(120):
        async with AsyncExitStack() as stack:
            processes = [
                await stack.enter_async_context(
                    await anyio.open_process(command, stdin=subprocess.DEVNULL)
                )
                for _ in range(parties)
            ]
            for process in processes:
                assert process.stderr is not None
                errors = bytearray()
                with contextlib.suppress(anyio.EndOfStream):
                    while True:
                        errors += await process.stderr.receive()
                assert await process.wait() == 0, errors.decode()
    # Every process reached every round's barrier.
    assert len(list(rendezvous.iterdir())) == parties * rounds


# --- both backends ----------------------------------------------------------------------------


async def test_ping_answers_on_a_reachable_database(db: Database) -> None:
    await db.ping()


async def test_foreign_keys_are_enforced_and_cascade(db: Database) -> None:
    insert_conversation = sa.text(
        "INSERT INTO conversation (id, user_id, title, created_at, updated_at) "
        "VALUES ('c1', 'alice', 'chat', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    insert_message = sa.text(
        "INSERT INTO message (conversation_id, role, content, created_at) "
        "VALUES (:conversation, 'user', 'hi', CURRENT_TIMESTAMP)"
    )
    count_messages = sa.text("SELECT count(*) FROM message")

    with pytest.raises(StorageError):
        async with db.writing() as conn:
            await conn.execute(insert_message, {"conversation": "missing"})
    async with db.writing() as conn:
        await conn.execute(insert_conversation)
        await conn.execute(insert_message, {"conversation": "c1"})
    async with db.writing() as conn:
        await conn.execute(sa.text("DELETE FROM conversation WHERE id = 'c1'"))
    async with db.autocommit() as conn:
        assert (await conn.execute(count_messages)).scalar_one() == 0


async def test_a_failed_write_block_leaves_nothing_behind(db: Database) -> None:
    insert = sa.text(
        "INSERT INTO idempotency_key (user_id, key, request_hash, response, created_at) "
        "VALUES ('alice', 'k', 'h', '{}', CURRENT_TIMESTAMP)"
    )

    async def write_then_fail() -> None:
        async with db.writing() as conn:
            await conn.execute(insert)
            raise LookupError("not a database problem")

    with pytest.raises(LookupError, match="not a database problem"):
        await write_then_fail()

    async with db.autocommit() as conn:
        count = sa.text("SELECT count(*) FROM idempotency_key")
        assert (await conn.execute(count)).scalar_one() == 0


# --- an unusable database ---------------------------------------------------------------------


@pytest.fixture
async def unreachable() -> AsyncIterator[Database]:
    db = Database(CLOSED_PORT_URL)
    try:
        yield db
    finally:
        await db.dispose()


async def test_ping_of_a_closed_port_is_unavailable_and_quick(unreachable: Database) -> None:
    with anyio.fail_after(3), pytest.raises(StorageUnavailableError) as caught:
        await unreachable.ping()

    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)


Operation = Callable[[TaskRepository], Coroutine[Any, Any, object]]
OPERATIONS: dict[str, Operation] = {
    "create": lambda r: r.create("alice", TaskCreate(title="t")),
    "create with key": lambda r: r.create("alice", TaskCreate(title="t"), idempotency_key="k"),
    "get": lambda r: r.get("alice", 1),
    "list": lambda r: r.list("alice", TaskQuery(query="x", tag="y")),
    "update": lambda r: r.update("alice", 1, TaskUpdate(title="t"), expected_version=1),
    "delete": lambda r: r.delete("alice", 1, expected_version=1),
}


@pytest.mark.parametrize("operation", OPERATIONS.values(), ids=OPERATIONS.keys())
async def test_repository_calls_against_an_unreachable_database_are_unavailable(
    unreachable: Database, operation: Operation
) -> None:
    with anyio.fail_after(3), pytest.raises(StorageUnavailableError):
        await operation(TaskRepository(unreachable))


@pytest.mark.parametrize(
    "change",
    [
        {"database": "todo_no_such_database"},
        {"username": "todo_no_such_role"},
    ],
    ids=["missing database", "unknown role"],
)
async def test_postgres_that_refuses_the_connection_is_unavailable(
    fresh_postgres_url: str, change: dict[str, Any]
) -> None:
    url = make_url(fresh_postgres_url).set(**change).render_as_string(hide_password=False)
    db = Database(url)
    try:
        with anyio.fail_after(5), pytest.raises(StorageUnavailableError):
            await db.ping()
        with anyio.fail_after(5), pytest.raises(StorageUnavailableError):
            await TaskRepository(db).list("alice", TaskQuery())
    finally:
        await db.dispose()


def test_libpq_connect_timeout_and_application_name_are_translated() -> None:
    url, connect_args = resolve_url("postgresql://h/db?connect_timeout=12&application_name=todo")
    assert dict(url.query) == {}
    assert connect_args["timeout"] == 12.0
    assert connect_args["server_settings"] == {"application_name": "todo"}


def test_url_parameter_the_driver_would_choke_on_is_refused() -> None:
    with pytest.raises(DatabaseURLError, match="options"):
        resolve_url("postgresql://h/db?options=-c%20search_path%3Dx")


# --- files: readable by their owner only --------------------------------------------------------


async def test_a_new_sqlite_database_is_private_to_its_owner(tmp_path: Path) -> None:
    import stat

    from storage.migrate import migrate

    path = tmp_path / "new-dir" / "todo.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate(db)
        async with db.writing() as conn:
            await conn.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in path.parent.iterdir()
            if p.name.startswith("todo.db")
        }
    finally:
        await db.dispose()

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert {"todo.db", "todo.db-wal", "todo.db-shm"} <= modes.keys()
    assert set(modes.values()) == {0o600}, modes


async def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    import stat

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    db = Database(f"sqlite+aiosqlite:///{shared / 'todo.db'}")
    await db.dispose()

    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "todo.db").stat().st_mode) == 0o600
