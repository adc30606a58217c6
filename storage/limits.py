"""The rate-limit repository: per-user counts of limited actions, kept in the database so that
every process serving it counts against one limit.

A fixed window per user and scope: it opens with the first counted action and lasts
`window_s`; within it at most `limit` actions count, and the next one waits until it ends.
Counting is one upsert, atomic on both backends (PostgreSQL serialises it on the row lock of the
user's window, SQLite on its write lock), so concurrent requests in any number of processes
never count past the limit.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from storage.database import Database
from storage.errors import RateLimitedError
from storage.models import RateWindow

_windows: sa.Table = RateWindow.__table__  # type: ignore[attr-defined]
_THIS_WINDOW = (
    _windows.c.scope == sa.bindparam("of_scope"),
    _windows.c.user_id == sa.bindparam("user"),
)
_WINDOW_START = sa.select(_windows.c.window_start).where(*_THIS_WINDOW)
# Gives back one action, only if the window it was counted in is still the current one.
_GIVE_BACK = (
    sa.update(_windows)
    .where(
        *_THIS_WINDOW,
        _windows.c.window_start == sa.bindparam("counted_in", type_=sa.Float()),
        _windows.c.hits > 0,
    )
    .values(hits=_windows.c.hits - 1)
)


@functools.cache
def _count(sqlite: bool) -> sa.Insert:
    """Count one action: open a window if there is none or it has ended, else add to it if
    it is under the limit. RETURNING its start only when the action was counted."""
    upsert: Any
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = sqlite_insert(_windows)
    else:
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        upsert = postgresql_insert(_windows)
    now = sa.bindparam("now", type_=sa.Float())
    ended = _windows.c.window_start <= now - sa.bindparam("window", type_=sa.Float())
    statement = upsert.values(
        scope=sa.bindparam("of_scope"), user_id=sa.bindparam("user"), window_start=now, hits=1
    )
    result: sa.Insert = statement.on_conflict_do_update(
        index_elements=[_windows.c.scope, _windows.c.user_id],
        set_={
            # Both read the row as it was before this update.
            "window_start": sa.case(
                (ended, statement.excluded.window_start), else_=_windows.c.window_start
            ),
            "hits": sa.case((ended, 1), else_=_windows.c.hits + 1),
        },
        where=sa.or_(ended, _windows.c.hits < sa.bindparam("limit", type_=sa.Integer())),
    ).returning(_windows.c.window_start)
    return result


@dataclass(frozen=True)
class Counted:
    """An action that was counted, and the window it was counted in."""

    scope: str
    user_id: str
    window_start: float


class RateLimits:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        # Wall-clock seconds, so that processes (and machines) agree on when a window ends.
        self._clock = clock

    async def count(self, scope: str, user_id: str, *, limit: int, window_s: float) -> Counted:
        """Count one action of `user_id` in `scope`, or raise `RateLimitedError` (counting
        nothing) when the user's current window already holds `limit`."""
        now = self._clock()
        parameters = {
            "of_scope": scope,
            "user": user_id,
            "now": now,
            "window": window_s,
            "limit": limit,
        }
        async with self._db.autocommit() as conn:
            start = (await conn.execute(_count(self._db.is_sqlite), parameters)).scalar()
            if start is None:
                start = (await conn.execute(_WINDOW_START, parameters)).scalar_one()
                raise RateLimitedError(max(1, math.ceil(start + window_s - now)))
        return Counted(scope, user_id, start)

    async def give_back(self, counted: Counted) -> None:
        """Uncount an action that turned out not to count (e.g. it named a conversation that is
        not there). A window that has ended since keeps nothing to give back."""
        parameters = {
            "of_scope": counted.scope,
            "user": counted.user_id,
            "counted_in": counted.window_start,
        }
        async with self._db.autocommit() as conn:
            await conn.execute(_GIVE_BACK, parameters)
