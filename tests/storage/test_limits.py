"""The rate-limit repository, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from storage.database import Database
from storage.errors import RateLimitedError
from storage.limits import Counted, RateLimits

WINDOW_S = 60.0


class Clock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limits(db: Database, clock: Clock) -> RateLimits:
    return RateLimits(db, clock=clock)


async def count(limits: RateLimits, user: str = "alice", scope: str = "chat") -> Counted:
    return await limits.count(scope, user, limit=3, window_s=WINDOW_S)


async def test_the_limit_holds_within_a_window_and_says_when_it_ends(
    limits: RateLimits, clock: Clock
) -> None:
    for _ in range(3):
        await count(limits)
        clock.now += 10

    with pytest.raises(RateLimitedError) as refused:
        await count(limits)

    # The window opened with the first action, 30 s ago.
    assert refused.value.retry_after_s == 30


async def test_a_refused_action_is_not_counted_and_a_new_window_starts_fresh(
    limits: RateLimits, clock: Clock
) -> None:
    for _ in range(3):
        await count(limits)
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            await count(limits)

    clock.now += WINDOW_S
    for _ in range(3):
        await count(limits)
    with pytest.raises(RateLimitedError) as refused:
        await count(limits)
    assert refused.value.retry_after_s == WINDOW_S


async def test_users_and_scopes_are_counted_apart(limits: RateLimits) -> None:
    for _ in range(3):
        await count(limits, "alice")

    await count(limits, "bob")
    await count(limits, "alice", scope="other")
    with pytest.raises(RateLimitedError):
        await count(limits, "alice")


async def test_an_action_given_back_makes_room_in_its_window(
    limits: RateLimits, clock: Clock
) -> None:
    counted = [await count(limits) for _ in range(3)]

    await limits.give_back(counted[-1])
    await count(limits)
    with pytest.raises(RateLimitedError):
        await count(limits)


async def test_an_action_given_back_after_its_window_ended_changes_nothing(
    limits: RateLimits, clock: Clock
) -> None:
    old = await count(limits)
    clock.now += WINDOW_S
    for _ in range(3):
        await count(limits)

    await limits.give_back(old)

    with pytest.raises(RateLimitedError):
        await count(limits)


@pytest.fixture
async def other_db(database_url: str) -> AsyncIterator[Database]:
    """A second handle on the same database, with pools of its own, as another process has."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_concurrent_actions_through_two_handles_count_exactly(
    db: Database, other_db: Database
) -> None:
    handles = [RateLimits(db), RateLimits(other_db)]
    outcomes: list[bool] = []

    async def attempt(n: int) -> None:
        try:
            await handles[n % 2].count("chat", "alice", limit=7, window_s=WINDOW_S)
            outcomes.append(True)
        except RateLimitedError:
            outcomes.append(False)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for n in range(30):
                group.start_soon(attempt, n)

    assert outcomes.count(True) == 7
    assert outcomes.count(False) == 23
