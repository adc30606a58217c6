"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends.

    PostgreSQL stores `timestamptz`; SQLite has no time zones and hands back naive values, so
    they are written as naive UTC and given their zone again on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TagList(sa.TypeDecorator[list[str]]):
    """A short list of tags kept with the task: JSONB on PostgreSQL (so `@>` can use it), JSON
    text on SQLite (searched with json_each). PostgreSQL's types are imported only when used,
    which keeps them off the start-up path of a SQLite server."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


# Sort and search keys compare code points on both backends: SQLite's BINARY collation does,
# and PostgreSQL does under the "C" collation (its default would follow the locale).
FoldedText: sa.types.TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the default clock of the repositories."""
    return datetime.now(UTC)
