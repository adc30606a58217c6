"""Where a database URL points, in words a person can check: the start-up line of both servers
says which database they opened, so that two configurations that differ are seen to differ."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def describe_database(raw_url: str, source: str) -> str:
    """`SQLite /absolute/path.db from <source>` or `PostgreSQL user@host:port/name from
    <source>`, never a password.

    A SQLite path in the URL may be relative (`sqlite:///data/x.db`, three slashes): it is
    resolved against the working directory, as SQLite will, and said to be relative."""
    try:
        url = make_url(raw_url)
    except sa.exc.ArgumentError:
        return f"{source} (not a database URL)"
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return f"SQLite in memory from {source} (gone when the server stops)"
        path = Path(url.database)
        where = f"SQLite {path.resolve()} from {source}"
        if not path.is_absolute():
            where += " (a relative path, resolved in the working directory)"
        return where
    user = f"{url.username}@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    return f"PostgreSQL {user}{url.host or 'localhost'}{port}/{url.database or ''} from {source}"
