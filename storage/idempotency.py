"""Idempotency keys of creates: claimed before the create runs, completed with its answer in
the create's transaction, replayed for 24 hours.

The claim is a row without an answer: it tells a concurrent request with the same key, in any
process, that the first is still in flight. A claim older than `STALE_CLAIM` belongs to a create
whose process died, and is taken over.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.errors import IdempotencyKeyInFlightError, IdempotencyKeyReusedError, StorageError
from storage.models import IdempotencyRecord

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL = timedelta(hours=24)
# A claim older than this belongs to a create whose process died: a create is one short
# transaction, so a live one is never near it (and one that is, loses its claim safely).
STALE_CLAIM = timedelta(seconds=30)
KEY_ATTEMPTS = 3

_keys: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_THIS_KEY = (_keys.c.user_id == sa.bindparam("key_user"), _keys.c.key == sa.bindparam("idem_key"))
_CLAIMED = (
    *_THIS_KEY,
    _keys.c.response.is_(None),
    _keys.c.created_at == sa.bindparam("claimed_at", type_=_keys.c.created_at.type),
)
_EXPIRE_KEYS = sa.delete(_keys).where(
    _keys.c.user_id == sa.bindparam("key_user"),
    _keys.c.created_at < sa.bindparam("expired", type_=_keys.c.created_at.type),
)
_SELECT_KEY = sa.select(_keys.c.request_hash, _keys.c.response, _keys.c.created_at).where(
    *_THIS_KEY
)
_COMPLETE_KEY = sa.update(_keys).where(*_CLAIMED).values(response=sa.bindparam("idem_response"))
_RELEASE_KEY = sa.delete(_keys).where(*_CLAIMED)
_TAKE_OVER_KEY = (
    sa.update(_keys)
    .where(
        *_THIS_KEY,
        _keys.c.response.is_(None),
        _keys.c.created_at == sa.bindparam("seen_at", type_=_keys.c.created_at.type),
    )
    .values(request_hash=sa.bindparam("idem_hash"), created_at=sa.bindparam("claimed_at"))
)


@functools.cache
def _claim_key(sqlite: bool) -> sa.Insert:
    """Insert the claim unless the key is there; RETURNING a row only when inserted."""
    insert: Any
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        insert = sqlite_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        insert = postgresql_insert
    values = {
        "user_id": sa.bindparam("key_user"),
        "key": sa.bindparam("idem_key"),
        "request_hash": sa.bindparam("idem_hash"),
        "response": None,
        "created_at": sa.bindparam("claimed_at", type_=_keys.c.created_at.type),
    }
    statement: sa.Insert = (
        insert(_keys).values(values).on_conflict_do_nothing().returning(_keys.c.key)
    )
    return statement


class ClaimLostError(StorageError):
    """This create's idempotency claim was taken over as stale; its answer is the other's."""


def digest(data: BaseModel, *, unless_none: tuple[str, ...] = ()) -> str:
    """What identifies a request's data: the same key with other data is refused. Fields named
    in `unless_none` count only when set, so that fields added to a request later leave the
    digest of a request without them as it was (a key used before an upgrade still matches)."""
    fields = data.model_dump(mode="json")
    for name in unless_none:
        if fields[name] is None:
            del fields[name]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def claim(
        self, user_id: str, key: str, request_hash: str
    ) -> tuple[datetime, dict[str, Any] | None]:
        """Claim the key for a create: (the claim's time, None), or (_, the answer of the
        create that used it before). Raises while another create holds a live claim on it, in
        this process or another, and when the key was used with other data.

        Each attempt reads the clock again: a claim retried after a lost race is as old as
        that attempt, not as the first, so it is neither taken for stale too early nor judges
        another's claim by an old time."""
        this_key = {"key_user": user_id, "idem_key": key}
        async with self._db.autocommit() as conn:
            for _ in range(KEY_ATTEMPTS):
                now = self._clock()
                # Expired keys of this user are dropped here, where they would be found.
                await conn.execute(
                    _EXPIRE_KEYS, {"key_user": user_id, "expired": now - IDEMPOTENCY_TTL}
                )
                claim = {**this_key, "idem_hash": request_hash, "claimed_at": now}
                if (await conn.execute(_claim_key(self._db.is_sqlite), claim)).first() is not None:
                    return now, None
                row = (await conn.execute(_SELECT_KEY, this_key)).one_or_none()
                if row is None:
                    continue  # released by a create that failed: claim it again
                if row.request_hash != request_hash:
                    raise IdempotencyKeyReusedError(key)
                if row.response is not None:
                    return row.created_at, row.response
                if row.created_at > now - STALE_CLAIM:
                    raise IdempotencyKeyInFlightError(key)
                # Its create died with the claim held (a crashed process): take it over, unless
                # another request just did.
                taken = await conn.execute(_TAKE_OVER_KEY, {**claim, "seen_at": row.created_at})
                if taken.rowcount == 1:
                    return now, None
        raise StorageError("idempotency key contention")

    @staticmethod
    async def complete(
        conn: AsyncConnection,
        user_id: str,
        key: str,
        claimed_at: datetime,
        response: dict[str, Any],
    ) -> None:
        """Record the create's answer on its claim, in the create's transaction."""
        parameters = {
            "key_user": user_id,
            "idem_key": key,
            "claimed_at": claimed_at,
            "idem_response": response,
        }
        if (await conn.execute(_COMPLETE_KEY, parameters)).rowcount != 1:
            # The claim was taken over as stale: roll back rather than make a second task.
            raise ClaimLostError()

    async def release(self, user_id: str, key: str, claimed_at: datetime) -> None:
        """Drop the claim of a create that failed, so that a retry can run at once. If even
        this fails, the claim goes stale and is taken over later."""
        try:
            async with self._db.autocommit() as conn:
                parameters = {"key_user": user_id, "idem_key": key, "claimed_at": claimed_at}
                await conn.execute(_RELEASE_KEY, parameters)
        except StorageError:
            log.warning("could not release an idempotency key claim; it will go stale")
