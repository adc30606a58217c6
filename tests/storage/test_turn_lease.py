"""The turn lease of a conversation: one holder at a time across processes (each repository
here has its own engine, as each process would), lapsing when its holder dies; on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.conversations import ConversationRepository
from storage.database import Database
from storage.errors import ConversationBusyError, ConversationNotFoundError

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first, second = Database(database_url), Database(database_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_conversation_runs_one_turn_at_a_time_across_processes(
    databases: tuple[Database, Database],
) -> None:
    clock = Clock()
    here, there = (ConversationRepository(db, clock=clock) for db in databases)
    started = await here.create("alice", "Groceries")

    lease = await here.claim_turn("alice", started.id, 60)
    with pytest.raises(ConversationBusyError) as busy:
        await there.claim_turn("alice", started.id, 60)
    assert busy.value.retry_after_s == 60
    assert busy.value.conversation_id == started.id

    await here.release_turn(started.id, lease)
    await there.claim_turn("alice", started.id, 60)


async def test_the_lease_of_a_process_that_died_lapses(
    databases: tuple[Database, Database],
) -> None:
    clock = Clock()
    here, there = (ConversationRepository(db, clock=clock) for db in databases)
    started = await here.create("alice", "Groceries")
    dead = await here.claim_turn("alice", started.id, 60)

    clock.now = START + timedelta(seconds=45)
    with pytest.raises(ConversationBusyError) as busy:
        await there.claim_turn("alice", started.id, 60)
    assert busy.value.retry_after_s == 15

    clock.now = START + timedelta(seconds=61)
    alive = await there.claim_turn("alice", started.id, 60)
    # The dead holder's late release does not free the new holder's turn.
    await here.release_turn(started.id, dead)
    with pytest.raises(ConversationBusyError):
        await here.claim_turn("alice", started.id, 60)
    await there.release_turn(started.id, alive)
    await here.claim_turn("alice", started.id, 60)


async def test_another_users_conversation_cannot_be_claimed(
    databases: tuple[Database, Database],
) -> None:
    here = ConversationRepository(databases[0])
    started = await here.create("alice", "Groceries")

    with pytest.raises(ConversationNotFoundError):
        await here.claim_turn("bob", started.id, 60)
    await here.claim_turn("alice", started.id, 60)
