"""A database in service: migrated at start, its pools closed at the end, and that close
bounded even when the peer never hangs up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from http_adapter.__main__ import main
from storage.database import Database
from storage.migrations import HEAD
from storage.startup import in_service, open_in_service

# Far more than a bounded close takes, far less than forever.
CLOSE_BOUND_S = 30
_CHUNK = 64 * 1024


async def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        async with db.autocommit() as conn:
            return (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await db.dispose()


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'new' / 'todo.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgres"], indirect=True)
async def test_a_new_database_is_migrated_and_closed_again(empty_database_url: str) -> None:
    async with open_in_service(empty_database_url, wait_s=0) as db:
        async with db.autocommit() as conn:
            await conn.execute(sa.text("SELECT count(*) FROM task"))
        in_use = db.connections_in_use()

    assert in_use == 0
    assert await _revision(empty_database_url) == HEAD


class _FinDroppingProxy:
    """Forwards bytes both ways but never passes a hang-up on: when the server closes its side,
    the client's side stays open and silent, as behind a proxy that drops FINs."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._open: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.append(writer)
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        self._open.append(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        # End of stream: deliberately not passed on (no writer.close()).

    def close_all(self) -> None:
        for writer in self._open:
            with contextlib.suppress(OSError):
                writer.close()


@asynccontextmanager
async def fin_dropping_proxy(url: str) -> AsyncIterator[str]:
    """`url` reached through the proxy (on 127.0.0.1, a free port)."""
    target = make_url(url)
    proxy = _FinDroppingProxy((target.host or "127.0.0.1", target.port or 5432))
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        proxy.close_all()
        server.close()
        await server.wait_closed()


@pytest.mark.postgres_only
async def test_closing_the_pools_ends_when_the_server_never_hangs_up(database_url: str) -> None:
    async with fin_dropping_proxy(database_url) as proxied:
        db = Database(proxied)
        with anyio.fail_after(CLOSE_BOUND_S):
            async with in_service(db):
                await db.ping()
                async with db.writing() as conn:
                    await conn.execute(sa.text("SELECT 1"))

        assert db.connections_in_use() == 0


@pytest.mark.postgres_only
async def test_todo_api_migrate_ends_when_the_server_never_hangs_up(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with fin_dropping_proxy(database_url) as proxied:
        monkeypatch.setenv("DATABASE_URL", proxied)
        monkeypatch.setenv("TODO_DATA_DIR", str(tmp_path))
        with anyio.fail_after(CLOSE_BOUND_S):
            # In a thread: the command runs its own event loop, while the proxy runs on this one.
            await anyio.to_thread.run_sync(main, ["migrate"], abandon_on_cancel=True)
