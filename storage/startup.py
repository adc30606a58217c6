"""A database in service: waited for, migrated, and closed (within a bound) at the end.

The one start-up of every process that uses the database: `todo-mcp` (its server's lifespan),
`todo-api` (before it serves, and `todo-api migrate`) and the HTTP app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from storage.database import Database
from storage.migrate import migrate
from storage.wait import wait_for_database


@asynccontextmanager
async def in_service(db: Database, *, wait_s: float | None = None) -> AsyncIterator[Database]:
    """`db` with its schema up to date, for the length of the block; its pools are closed at
    the end (`Database.dispose`, bounded in time), whatever happens.

    With `wait_s`, a database that does not answer yet is waited for that long first
    (`storage.wait`); without, an unreachable one fails the migration at once.
    """
    try:
        if wait_s is not None:
            await wait_for_database(db, wait_s)
        await migrate(db)
        yield db
    finally:
        await db.dispose()


def open_in_service(
    url: str, *, pooler: str | None = None, wait_s: float | None = None
) -> AbstractAsyncContextManager[Database]:
    """The database at `url`, opened and put `in_service`. Raises `DatabaseURLError` for a URL
    that cannot be used, before anything is opened."""
    return in_service(Database(url, pooler=pooler), wait_s=wait_s)
