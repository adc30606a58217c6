"""The database: an async engine built from a URL, with the driver's quirks handled once.

PostgreSQL goes through asyncpg, SQLite through aiosqlite. Reads and single-statement writes
run in autocommit (one round trip, no BEGIN/COMMIT), on a pool of their own; other writes run in
a transaction, which on SQLite starts with `BEGIN IMMEDIATE` so two writers queue on the busy
timeout instead of failing mid-transaction.

Behind a transaction-mode pooler (`pooler="transaction"`) a server connection is ours only for
the length of a transaction, so nothing may outlive one: no statement caches, statement names
unique across clients, and every statement inside a transaction (SQLAlchemy's asyncpg dialect
prepares a statement and runs it in two steps, which the pooler may send to two servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.errors import StorageError, StorageUnavailableError

log = logging.getLogger(__name__)

DEFAULT_DB_FILE = "todo.db"
_PG_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
_CHANNEL_BINDINGS = {"disable", "prefer", "require"}
# Query parameters SQLAlchemy's asyncpg dialect passes on as they are; libpq's others are
# translated above or refused, never handed to the driver to fail with a TypeError later.
_ASYNCPG_URL_PARAMETERS = {
    "command_timeout",
    "prepared_statement_cache_size",
    "target_session_attrs",
}
# SQLSTATE classes that mean "no usable connection" rather than "this statement is wrong":
# connection exceptions, rejected credentials, a missing database, exhausted resources (too
# many connections), a database not accepting connections or a lock not available, and a
# server shutting down. asyncpg reports them as plain DBAPI errors.
_UNAVAILABLE_SQLSTATES = ("08", "28", "3D", "53", "55", "57P")
# How long a PostgreSQL connection attempt may take before the database counts as unreachable.
_CONNECT_TIMEOUT_S = 5
# Closing a connection waits for the server to hang up; a peer that never does (a proxy that
# drops FINs, a server gone silent) must not hold a shutdown or `todo-api migrate` open. Each
# close waits this long, and closing the pools altogether at most DISPOSE_TIMEOUT_S.
CLOSE_TIMEOUT_S = 1.0
DISPOSE_TIMEOUT_S = 5.0
# How long a SQLite writer waits for another to finish before giving up.
_SQLITE_BUSY_TIMEOUT_MS = 10_000
POOLER_MODES = ("transaction",)


class DatabaseURLError(ValueError):
    """The configured database URL cannot be used."""


def default_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / DEFAULT_DB_FILE}"


def resolve_url(raw: str) -> tuple[URL, dict[str, Any]]:
    """Turn a user-facing URL into SQLAlchemy's URL and the driver's connect arguments.

    `postgres://` and `postgresql://` mean asyncpg. libpq's `sslmode` becomes asyncpg's `ssl`
    argument (asyncpg refuses it in the URL); `channel_binding`, which asyncpg cannot do, is
    dropped, but `channel_binding=require` still insists on TLS so a connection is never
    silently made in plain text.
    """
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise DatabaseURLError(f"DATABASE_URL is not a database URL: {exc}") from None
    scheme = url.drivername
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        return url.set(drivername="sqlite+aiosqlite"), {}
    if scheme not in _PG_SCHEMES:
        raise DatabaseURLError(
            f"DATABASE_URL scheme {scheme!r} is not supported; use "
            f"postgresql://user:password@host/db or sqlite:////absolute/path/todo.db"
        )
    query = dict(url.query)
    sslmode = query.pop("sslmode", None)
    channel_binding = query.pop("channel_binding", None)
    connect_args: dict[str, Any] = {"timeout": _CONNECT_TIMEOUT_S}
    if isinstance(sslmode, tuple) or isinstance(channel_binding, tuple):
        raise DatabaseURLError("DATABASE_URL gives sslmode or channel_binding more than once")
    if sslmode is not None and sslmode not in _SSL_MODES:
        raise DatabaseURLError(f"DATABASE_URL sslmode={sslmode!r} is not a libpq sslmode")
    if channel_binding is not None and channel_binding not in _CHANNEL_BINDINGS:
        # libpq refuses an unknown value; dropping it would silently lose a TLS requirement.
        raise DatabaseURLError(
            f"DATABASE_URL channel_binding={channel_binding!r} is not a libpq channel_binding"
        )
    if channel_binding == "require":
        if sslmode in ("disable", "allow", "prefer"):
            raise DatabaseURLError("channel_binding=require needs TLS but sslmode turns it off")
        sslmode = sslmode or "require"
        log.info("channel_binding is not supported by asyncpg; TLS is still required")
    if sslmode is not None:
        connect_args["ssl"] = sslmode
    for name, value in list(query.items()):
        if isinstance(value, tuple):
            raise DatabaseURLError(f"DATABASE_URL gives {name} more than once")
        if name == "connect_timeout":
            try:
                connect_args["timeout"] = float(value)
            except ValueError:
                raise DatabaseURLError(f"DATABASE_URL connect_timeout={value!r}") from None
            del query[name]
        elif name == "application_name":
            connect_args["server_settings"] = {"application_name": value}
            del query[name]
        elif name not in _ASYNCPG_URL_PARAMETERS:
            raise DatabaseURLError(
                f"DATABASE_URL parameter {name!r} is not supported (asyncpg accepts "
                f"sslmode, channel_binding, connect_timeout, application_name, "
                f"{', '.join(sorted(_ASYNCPG_URL_PARAMETERS))})"
            )
    return url.set(drivername="postgresql+asyncpg", query=query), connect_args


class Database:
    """The engines of a server, for its whole life: one for transactions, and (for a
    database file or server) one whose connections stay in autocommit."""

    def __init__(self, raw_url: str, *, pool_size: int = 20, pooler: str | None = None) -> None:
        url, connect_args = resolve_url(raw_url)
        if pooler is not None and pooler not in POOLER_MODES:
            raise DatabaseURLError(f"DATABASE_POOLER={pooler!r}; the one mode known is transaction")
        self.url = url
        self._before_dispose: list[Callable[[], Awaitable[None]]] = []
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.behind_pooler = pooler is not None and not self.is_sqlite
        self.sqlite_path: Path | None = None
        if self.is_sqlite:
            if url.database and url.database != ":memory:":
                self.sqlite_path = Path(url.database)
                try:
                    _create_private(self.sqlite_path)
                except OSError as exc:
                    raise DatabaseURLError(
                        f"cannot create the database directory {self.sqlite_path.parent}: "
                        f"{exc.strerror}"
                    ) from None
            self.engine: AsyncEngine = create_async_engine(url, connect_args=connect_args)
            _configure_sqlite(self.engine, begin_immediate=True)
            if self.sqlite_path is None:  # an in-memory database exists once per engine
                self.autocommit_engine: AsyncEngine = self.engine
            else:
                self.autocommit_engine = create_async_engine(
                    url, connect_args=connect_args, isolation_level="AUTOCOMMIT"
                )
                _configure_sqlite(self.autocommit_engine, begin_immediate=False)
        else:
            connect_args = {**connect_args, "connection_class": _BoundedCloseConnection}
            # Connections beyond pool_size are opened and closed per use (a TLS negotiation
            # each), so the pool is sized for the concurrency a server really sees.
            pool = {"pool_size": pool_size, "max_overflow": pool_size // 2, "pool_recycle": 1800}
            if pooler is not None:
                url = url.update_query_dict({"prepared_statement_cache_size": "0"})
                connect_args = {
                    **connect_args,
                    "statement_cache_size": 0,
                    "prepared_statement_name_func": _unique_statement_name,
                }
                self.engine = create_async_engine(url, connect_args=connect_args, **pool)
                self.autocommit_engine = self.engine
                self.url = url
                return
            self.engine = create_async_engine(url, connect_args=connect_args, **pool)
            # Reads and single-statement writes get a pool of their own, opened in autocommit:
            # switching a connection's isolation level back and forth costs more than a query.
            self.autocommit_engine = create_async_engine(
                url, connect_args=connect_args, isolation_level="AUTOCOMMIT", **pool
            )

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements each commit on their own: for reads, and for writes
        that are one statement (atomic by themselves). Behind a pooler, one transaction."""
        with translate_errors():
            if self.behind_pooler:
                async with self.engine.begin() as conn:
                    yield conn
                return
            async with self.autocommit_engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed when the block ends without error."""
        with translate_errors():
            async with self.engine.begin() as conn:
                yield conn

    async def ping(self) -> None:
        """Raise `StorageUnavailableError` unless the database answers a trivial query."""
        if self.sqlite_path is not None:
            # A pooled SQLite connection keeps answering from its open file handle after the
            # file is deleted or damaged: the file itself is opened afresh.
            try:
                await asyncio.to_thread(probe_sqlite_file, self.sqlite_path)
            except sqlite3.Error as exc:
                raise StorageUnavailableError() from exc
        async with self.autocommit() as conn:
            await conn.execute(sa.text("SELECT 1"))

    def connections_in_use(self) -> int:
        """Connections checked out of the pools right now (for metrics)."""
        engines = {id(e): e for e in (self.engine, self.autocommit_engine)}.values()
        return sum(getattr(engine.pool, "checkedout", lambda: 0)() for engine in engines)

    def before_dispose(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when the pools close, before they do (work still to send)."""
        self._before_dispose.append(hook)

    async def dispose(self) -> None:
        """Close the pools' connections, giving up after DISPOSE_TIMEOUT_S: what is still open
        then is dropped (the process is ending, or the engines are not used again)."""
        try:
            async with asyncio.timeout(DISPOSE_TIMEOUT_S):
                for hook in self._before_dispose:
                    await hook()
                if self.autocommit_engine is not self.engine:
                    await self.autocommit_engine.dispose()
                await self.engine.dispose()
        except TimeoutError:
            log.warning(
                "closing the database connections took over %g s; dropped", DISPOSE_TIMEOUT_S
            )


class _BoundedCloseConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg has no types
    """An asyncpg connection whose graceful close gives up after CLOSE_TIMEOUT_S (asyncpg then
    aborts the connection): SQLAlchemy's pool closes with no timeout at all."""

    async def close(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's)
        try:
            await super().close(timeout=CLOSE_TIMEOUT_S if timeout is None else timeout)
        except TimeoutError:
            log.warning("the database did not acknowledge a connection's close; dropped it")


def probe_sqlite_file(path: Path) -> None:
    """Open the existing SQLite file at `path` (never creating one) and read its schema; raises
    `sqlite3.Error` when it cannot be."""
    with contextlib.closing(
        sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
    ) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, in a directory of the same kind
    when it is new: tasks and chats are private. SQLite gives the -wal and -shm files the
    database file's mode. An existing file or directory keeps the mode it has."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _unique_statement_name() -> str:
    # Clients share server connections behind a pooler: per-client counters would collide.
    return f"__todo_{uuid.uuid4().hex}__"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver and connection failures into storage errors, keeping their text out."""
    try:
        yield
    except StorageError:
        raise
    except (sa.exc.SQLAlchemyError, OSError, TimeoutError) as exc:
        if not _means_unavailable(exc):
            log.exception("database error")
            raise StorageError("the database rejected the operation") from exc
        log.warning("database unavailable: %s", exc)
        raise StorageUnavailableError() from exc


_NO_CONNECTION = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    OSError,
    TimeoutError,
)


def _means_unavailable(exc: Exception) -> bool:
    """No usable connection, as opposed to a statement the database refused."""
    if isinstance(exc, _NO_CONNECTION):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return str(sqlstate or "").startswith(_UNAVAILABLE_SQLSTATES)


def _configure_sqlite(engine: AsyncEngine, *, begin_immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(dbapi_connection, cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if begin_immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _switch_to_wal(dbapi_connection: Any, cursor: Any) -> None:
    """Put the database in WAL mode (a no-op once it is: the mode is kept in the file).

    When connections in two processes switch a new database at the same moment, SQLite tells
    one "database is locked" at once, without waiting out the busy timeout; that one waits a
    little (without blocking the event loop) and tries again.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        dbapi_connection.run_async(lambda _driver, pause=delay: asyncio.sleep(pause))
        delay = min(delay * 2, 0.1)
