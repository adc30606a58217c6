"""Bringing the schema up to date when a server starts, safely when several start at once.

At head this costs one query and never imports Alembic. Otherwise the upgrade runs under a lock:
a transaction-scoped advisory lock on PostgreSQL, a lock file beside the database on SQLite;
whoever gets the lock second finds the schema current and does nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database, translate_errors
from storage.errors import StorageError
from storage.migrations import HEAD

log = logging.getLogger(__name__)

# Any fixed 64-bit number; it only has to be the same in every process migrating this database.
_ADVISORY_LOCK_KEY = 0x746F646F6D6370  # "todomcp"
_LOCK_WAIT_S = 120


async def migrate(db: Database) -> None:
    """Apply pending migrations, if any."""
    async with db.autocommit() as conn:
        if await _current_revision(conn, db) == HEAD:
            return
    if db.sqlite_path is None:
        if db.is_sqlite:  # an in-memory database has no one to race with
            await _upgrade(db)
            return
        await _upgrade(db, advisory_lock=True)
        return
    # Not thread-local: it is acquired in a worker thread and released on this one, and a
    # thread-local lock would ignore that release and stay held as long as the object lives.
    from filelock import FileLock, Timeout  # only when there is something to migrate

    lock = FileLock(
        _lock_path(db.sqlite_path), timeout=_LOCK_WAIT_S, thread_local=False, mode=0o600
    )
    try:
        await anyio.to_thread.run_sync(lock.acquire)
    except Timeout:
        raise StorageError(f"timed out waiting for the migration lock {lock.lock_file}") from None
    try:
        await _upgrade(db)
    finally:
        lock.release()


def _lock_path(database: Path) -> str:
    return str(database.with_name(database.name + ".migrate.lock"))


async def _current_revision(
    conn: AsyncConnection, db: Database, *, in_transaction: bool = False
) -> str | None:
    query = sa.text("SELECT version_num FROM alembic_version")
    try:
        if not in_transaction:
            return (await conn.execute(query)).scalar_one_or_none()
        # Inside a transaction a missing table would abort it on PostgreSQL: fence it off.
        async with conn.begin_nested():
            return (await conn.execute(query)).scalar_one_or_none()
    except (sa.exc.ProgrammingError, sa.exc.OperationalError) as exc:
        # A new database has no alembic_version table yet; anything else is a real failure.
        if _is_missing_table(exc, db):
            return None
        raise


def _is_missing_table(exc: sa.exc.DBAPIError, db: Database) -> bool:
    if db.is_sqlite:
        return "no such table" in str(exc.orig)
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "does not exist" in str(exc.orig)


async def _upgrade(db: Database, *, advisory_lock: bool = False) -> None:
    with translate_errors():
        async with db.engine.begin() as conn:
            if advisory_lock:
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                )
            if await _current_revision(conn, db, in_transaction=True) == HEAD:
                return
            log.info("migrating the database schema to %s", HEAD)
            await conn.run_sync(_run_alembic)


def _run_alembic(connection: sa.Connection) -> None:
    # Alembic announces each of its built-in plugins at INFO as it is imported: seven lines that
    # say nothing about this database. Its own "Running upgrade" lines stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from alembic import command  # imported only when there is something to migrate
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "storage:migrations")
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
