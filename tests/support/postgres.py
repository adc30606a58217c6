"""The PostgreSQL server the tests create their databases on, and an admin connection to it.

`TODO_TEST_POSTGRES_URL` names the server (default: trust auth on 127.0.0.1:5432);
`TODO_REQUIRE_POSTGRES=1` makes its absence a failure rather than a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "TODO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("TODO_REQUIRE_POSTGRES") == "1"
# For messages: the URL without its password.
SHOWN_POSTGRES_URL = make_url(POSTGRES_URL).render_as_string(hide_password=True)


# Every database a run creates carries the run's tag: `scripts/test` drops what an interrupted run
# left behind by it, without touching the databases of another run on the same server.
RUN_TAG = os.environ.get("TODO_TEST_RUN_TAG") or uuid.uuid4().hex[:8]


def scratch_name(kind: str) -> str:
    """A new database name for `kind` (template, test, ...) in this run."""
    return f"todo_{kind}_{RUN_TAG}_{uuid.uuid4().hex[:10]}"


def admin_dsn() -> str:
    """A libpq DSN of the server's maintenance database, for creating and dropping others."""
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)


def database_url_of(name: str) -> str:
    """The URL of database `name` on the same server, as DATABASE_URL takes it."""
    url = make_url(POSTGRES_URL).set(drivername="postgresql", database=name)
    return url.render_as_string(hide_password=False)


@asynccontextmanager
async def admin_connection() -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(admin_dsn(), timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


async def admin(*statements: str) -> None:
    """Run `statements` on the maintenance database, one after the other."""
    async with admin_connection() as conn:
        for statement in statements:
            await conn.execute(statement)
