"""The benchmark databases on a PostgreSQL server: created fresh for a run, dropped after."""

from __future__ import annotations

import asyncio

import asyncpg


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rstrip('/')}/{name}"


async def _recreate(server_url: str, names: list[str], *, drop_only: bool = False) -> str:
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                await conn.execute(f'CREATE DATABASE "{name}"')
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


def recreate_databases(server_url: str, names: list[str], *, drop_only: bool = False) -> str:
    return asyncio.run(_recreate(server_url, names, drop_only=drop_only))
