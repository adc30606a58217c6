"""Waiting at start for a database that is not reachable yet.

Orchestrators (compose, Kubernetes) often start the server before PostgreSQL accepts
connections. A server waits for it with a bounded backoff, one log line per retry, and gives
up with one line saying why. A SQLite file is either there to open or not: it is tried once.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import sqlalchemy as sa

from storage.database import Database, probe_sqlite_file
from storage.errors import StorageUnavailableError

log = logging.getLogger(__name__)

_FIRST_PAUSE_S = 0.25
_LONGEST_PAUSE_S = 5.0
_REASON_CHARS = 200
# SQLSTATE classes of a definite "no" from a running server: waiting cannot turn it into a yes.
_REFUSALS = ("3D", "28")


class DatabaseUnreachableError(StorageUnavailableError):
    """The database did not answer within the wait allowed at start."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.args = (reason,)


async def wait_for_database(db: Database, wait_s: float) -> None:
    """Return once the database answers `SELECT 1`; raise `DatabaseUnreachableError` when it
    has not after `wait_s` seconds."""
    deadline = time.monotonic() + (0.0 if db.is_sqlite else wait_s)
    if db.sqlite_path is not None:
        # Opened with the standard library first: a file aiosqlite cannot open leaves its
        # worker thread reporting to an event loop that may be closed by then (a traceback
        # at exit instead of the one line this module promises).
        try:
            await asyncio.to_thread(probe_sqlite_file, db.sqlite_path)
        except sqlite3.Error as exc:
            raise DatabaseUnreachableError(f"the database is not reachable: {exc}") from None
    pause = _FIRST_PAUSE_S
    attempt = 1
    while True:
        # The engine is used directly: the storage layer's own error translation would log a
        # second line for every failed attempt.
        try:
            async with db.autocommit_engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            if attempt > 1:
                log.info("database reachable after %d attempts", attempt)
            return
        except (sa.exc.SQLAlchemyError, OSError, TimeoutError) as exc:
            reason = _reason(exc)
            if _cannot_come(exc):
                raise DatabaseUnreachableError(
                    f"the database DATABASE_URL names refused the connection, and waiting "
                    f"will not change that: {reason}"
                ) from None
        left = deadline - time.monotonic()
        if left <= 0:
            waited = f" after waiting {wait_s:g} s" if not db.is_sqlite and wait_s > 0 else ""
            raise DatabaseUnreachableError(
                f"the database DATABASE_URL names is not reachable{waited}: {reason}"
            )
        pause = min(pause, left)
        log.warning(
            "database not reachable (%s); attempt %d failed, next in %.1f s (%.1f s left)",
            reason,
            attempt,
            pause,
            left,
        )
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE_S)
        attempt += 1


def _cannot_come(exc: BaseException) -> bool:
    """A server that answered and said no: the database does not exist (SQLSTATE 3D000) or the
    credentials are refused (class 28). A server still starting refuses connections instead."""
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    return sqlstate.startswith(_REFUSALS)


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line: SQLAlchemy's text adds the statement and a link.
    Neither a driver's connection error nor SQLAlchemy's carries the URL's password."""
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:_REASON_CHARS]
