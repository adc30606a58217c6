"""Holding a create open for real on PostgreSQL: another connection locks the user's task count
row, so a create of that user waits in the database until the lock is let go."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import asyncpg
from sqlalchemy.engine import make_url

WAIT_S = 30


@asynccontextmanager
async def task_count_locked(database_url: str, user: str) -> AsyncIterator[asyncpg.Connection]:
    """The user's task count row locked (the user must have a task) until the block ends."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        async with conn.transaction():
            locked = await conn.fetchval(
                "SELECT tasks FROM task_count WHERE user_id = $1 FOR UPDATE", user
            )
            assert locked is not None, f"{user} has no task count row to lock"
            yield conn
    finally:
        await conn.close()


async def wait_for_lock_waiters(conn: asyncpg.Connection, count: int = 1) -> None:
    """Return once `count` other sessions of this database wait for a lock (bounded)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with anyio.fail_after(WAIT_S):
        # The condition is in the database: there is no event to wait on, so poll it. Within
        # one transaction (the lock's) the activity view is a snapshot: clear it each time.
        while await conn.fetchval(query) < count:
            await anyio.sleep(0.01)
            await conn.execute("SELECT pg_stat_clear_snapshot()")
