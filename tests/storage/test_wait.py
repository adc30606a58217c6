"""Waiting at start for the database: a bounded backoff with one log line per retry."""

from __future__ import annotations

import logging
import time

import pytest

from storage.database import Database
from storage.wait import DatabaseUnreachableError, wait_for_database
from tests.support.processes import refused_port


async def test_a_reachable_database_is_used_at_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    try:
        await wait_for_database(db, 30)
    finally:
        await db.dispose()

    assert not [r for r in caplog.records if r.name == "storage.wait"]


async def test_an_unreachable_database_is_retried_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with refused_port() as port:
        db = Database(f"postgresql://nobody:hunter2@127.0.0.1:{port}/todo")
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseUnreachableError) as raised:
                await wait_for_database(db, 1.0)
        finally:
            await db.dispose()

    waited = time.monotonic() - started
    retries = [r.getMessage() for r in caplog.records if r.name == "storage.wait"]
    assert len(retries) >= 2
    assert all("\n" not in line and "hunter2" not in line for line in retries)
    assert 1.0 <= waited < 10
    reason = str(raised.value)
    assert "after waiting 1 s" in reason
    assert "\n" not in reason
    assert "hunter2" not in reason
