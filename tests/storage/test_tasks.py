"""The task repository, on SQLite and PostgreSQL alike (the fixtures run each test on both)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.errors import (
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    QuotaExceededError,
    TaskNotFoundError,
    VersionMismatchError,
)
from storage.idempotency import STALE_CLAIM, ClaimLostError, IdempotencyKeys
from storage.models import (
    IdempotencyRecord,
    Priority,
    TaskCreate,
    TaskPublic,
    TaskQuery,
    TaskUpdate,
)
from storage.tasks import TaskRepository, request_digest

ALICE = "alice"
BOB = "bob"


class Clock:
    """A clock the test moves by hand, so times are exact and ordering is certain."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(db: Database, clock: Clock) -> TaskRepository:
    """A repository whose clock the test controls."""
    return TaskRepository(db, clock=clock)


async def add(repo: TaskRepository, title: str, user: str = ALICE, **fields: Any) -> TaskPublic:
    return await repo.create(user, TaskCreate.model_validate({"title": title, **fields}))


async def titles(repo: TaskRepository, user: str = ALICE, **query: Any) -> list[str]:
    page = await repo.list(user, TaskQuery.model_validate(query))
    return [task.title for task in page.tasks]


# --- create and get ---------------------------------------------------------------------------


async def test_create_fills_in_defaults(repo: TaskRepository, clock: Clock) -> None:
    task = await add(repo, "Buy milk")

    assert task.id > 0
    assert task.user_id == ALICE
    assert task.title == "Buy milk"
    assert task.description is None
    assert task.completed is False
    assert task.priority is Priority.medium
    assert task.due_date is None
    assert task.tags == []
    assert task.version == 1
    assert task.created_at == task.updated_at == clock.now
    assert await repo.get(ALICE, task.id) == task


async def test_create_keeps_every_given_field(tasks: TaskRepository) -> None:
    task = await add(
        tasks,
        "File taxes",
        description="Forms from the bank",
        priority="high",
        due_date="2026-04-15",
        tags=["home", "money"],
        completed=True,
    )

    stored = await tasks.get(ALICE, task.id)
    assert stored == task
    assert (stored.description, stored.priority, stored.due_date, stored.tags) == (
        "Forms from the bank",
        Priority.high,
        date(2026, 4, 15),
        ["home", "money"],
    )
    assert stored.completed is True


async def test_values_at_their_limits_are_stored_whole(tasks: TaskRepository) -> None:
    tags = [f"{i:02d}" + "ü" * 30 for i in range(10)]
    task = await add(tasks, "ß" * 200, description="ä" * 1000, tags=tags)

    stored = await tasks.get(ALICE, task.id)
    assert stored.title == "ß" * 200
    assert stored.description == "ä" * 1000
    assert stored.tags == tags


async def test_create_stores_the_title_trimmed_and_the_tags_cleaned(tasks: TaskRepository) -> None:
    task = await add(tasks, "  Walk the dog \n", tags=[" pets", "daily ", "pets"])

    stored = await tasks.get(ALICE, task.id)
    assert stored.title == "Walk the dog"
    assert stored.tags == ["pets", "daily"]


async def test_get_task_of_another_user_is_not_found(tasks: TaskRepository) -> None:
    task = await add(tasks, "Alice's secret", user=ALICE)

    with pytest.raises(TaskNotFoundError) as caught:
        await tasks.get(BOB, task.id)
    assert caught.value.task_id == task.id


async def test_get_of_a_task_that_never_existed_is_not_found(tasks: TaskRepository) -> None:
    with pytest.raises(TaskNotFoundError, match="task 4242 not found"):
        await tasks.get(ALICE, 4242)


async def test_created_at_is_the_current_time(tasks: TaskRepository) -> None:
    before = datetime.now(UTC)
    task = await add(tasks, "now")
    after = datetime.now(UTC)

    assert before <= task.created_at <= after


async def test_timestamps_are_timezone_aware_utc(db: Database) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 1, 17, 30, 15, 123456, tzinfo=india)
    repo = TaskRepository(db, clock=lambda: moment)

    created = await add(repo, "stamp")
    updated = await repo.update(ALICE, created.id, TaskUpdate(title="stamped"))
    listed = (await repo.list(ALICE, TaskQuery())).tasks[0]
    fetched = await repo.get(ALICE, created.id)

    for task in (created, updated, listed, fetched):
        for stamp in (task.created_at, task.updated_at):
            assert stamp.utcoffset() == timedelta(0)
            assert stamp == moment
            assert stamp.replace(tzinfo=None) == datetime(2026, 3, 1, 12, 0, 15, 123456)


async def test_task_ids_are_not_reused_after_deleting_the_newest_task(
    tasks: TaskRepository,
) -> None:
    await add(tasks, "first")
    newest = await add(tasks, "second")
    await tasks.delete(ALICE, newest.id)

    replacement = await add(tasks, "third")

    assert replacement.id > newest.id


# --- list: scoping and filters ----------------------------------------------------------------


async def test_list_never_contains_another_users_task(tasks: TaskRepository) -> None:
    await add(tasks, "mine", user=ALICE)
    await add(tasks, "theirs", user=BOB, tags=["shared"], priority="high")
    await add(tasks, "theirs too", user=BOB)

    page = await tasks.list(ALICE, TaskQuery())
    assert [t.title for t in page.tasks] == ["mine"]
    assert page.total == 1
    assert await titles(tasks, query="theirs") == []
    assert await titles(tasks, tag="shared") == []
    assert await titles(tasks, priority="high") == []
    assert await titles(tasks, BOB) == ["theirs", "theirs too"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("all", ["open", "done", "also open"]),
        ("pending", ["open", "also open"]),
        ("completed", ["done"]),
    ],
)
async def test_list_filters_by_status(
    tasks: TaskRepository, status: str, expected: list[str]
) -> None:
    await add(tasks, "open")
    await add(tasks, "done", completed=True)
    await add(tasks, "also open")

    assert await titles(tasks, status=status) == expected


@pytest.mark.parametrize(
    ("stored", "searched"),
    [
        ("Buy ÄPFEL today", "äpfel"),
        ("buy äpfel today", "ÄPFEL"),
        ("ΣΟΦΊΑ και γνώση", "σοφία"),
        ("η σοφία", "ΣΟΦΊΑ"),
        ("Hauptstraße 5", "STRASSE"),
        ("HAUPTSTRASSE 5", "straße"),
        ("Café crème", "CAFÉ CRÈME"),
        ("MILK and eggs", "milk AND"),
    ],
)
async def test_search_is_case_insensitive_across_unicode(
    tasks: TaskRepository, stored: str, searched: str
) -> None:
    await add(tasks, stored)
    await add(tasks, "something else entirely")

    assert await titles(tasks, query=searched) == [stored]


async def test_search_matches_the_description(tasks: TaskRepository) -> None:
    await add(tasks, "Errands", description="Post office on the HAUPTSTRASSE")
    await add(tasks, "Errands too", description="Bakery")
    await add(tasks, "No description")

    assert await titles(tasks, query="hauptstraße") == ["Errands"]


async def test_search_treats_percent_and_underscore_literally(tasks: TaskRepository) -> None:
    await add(tasks, "100% done")
    await add(tasks, "100 done")
    await add(tasks, "a_b")
    await add(tasks, "ab")
    await add(tasks, "axb")

    assert await titles(tasks, query="%") == ["100% done"]
    assert await titles(tasks, query="0%") == ["100% done"]
    assert await titles(tasks, query="_") == ["a_b"]
    assert await titles(tasks, query="a_b") == ["a_b"]
    assert await titles(tasks, query="a%b") == []


async def test_search_finds_what_an_update_wrote_and_forgets_what_it_cleared(
    tasks: TaskRepository,
) -> None:
    task = await add(tasks, "Old name", description="remember the keys")

    await tasks.update(ALICE, task.id, TaskUpdate(title="New NAME", description=None))

    assert await titles(tasks, query="new name") == ["New NAME"]
    assert await titles(tasks, query="old") == []
    assert await titles(tasks, query="keys") == []


async def test_list_filters_by_priority(tasks: TaskRepository) -> None:
    await add(tasks, "low", priority="low")
    await add(tasks, "high", priority="high")
    await add(tasks, "default")

    assert await titles(tasks, priority="high") == ["high"]
    assert await titles(tasks, priority="medium") == ["default"]
    assert await titles(tasks, priority="low") == ["low"]


async def test_list_filters_by_tag(tasks: TaskRepository) -> None:
    await add(tasks, "report", tags=["work", "urgent"])
    await add(tasks, "homework", tags=["homework"])
    await add(tasks, "coffee", tags=["café", "日本"])
    await add(tasks, "untagged")

    assert await titles(tasks, tag="work") == ["report"]
    assert await titles(tasks, tag="urgent") == ["report"]
    assert await titles(tasks, tag="café") == ["coffee"]
    assert await titles(tasks, tag="日本") == ["coffee"]
    assert await titles(tasks, tag="wor") == []


async def test_due_date_filters_are_inclusive_and_exclude_tasks_without_due_date(
    tasks: TaskRepository,
) -> None:
    await add(tasks, "jan 1", due_date="2026-01-01")
    await add(tasks, "no date")
    await add(tasks, "jan 2", due_date="2026-01-02")
    await add(tasks, "jan 3", due_date="2026-01-03")

    assert await titles(tasks, due_before="2026-01-02") == ["jan 1", "jan 2"]
    assert await titles(tasks, due_after="2026-01-02") == ["jan 2", "jan 3"]
    assert await titles(tasks, due_after="2026-01-02", due_before="2026-01-02") == ["jan 2"]
    assert await titles(tasks, due_after="2026-01-04") == []


async def test_filters_combine(tasks: TaskRepository) -> None:
    await add(tasks, "pay rent", priority="high", tags=["money"], due_date="2026-02-01")
    await add(tasks, "pay back Bob", priority="high", tags=["money"], completed=True)
    await add(tasks, "pay tv", priority="low", tags=["money"], due_date="2026-02-01")
    await add(tasks, "pay gym", priority="high", due_date="2026-02-01")

    page = await tasks.list(
        ALICE,
        TaskQuery(
            status="pending", query="PAY", priority="high", tag="money", due_before="2026-03-01"
        ),
    )
    assert [t.title for t in page.tasks] == ["pay rent"]
    assert page.total == 1


# --- list: sorting and paging -----------------------------------------------------------------


@pytest.fixture
async def assorted(repo: TaskRepository, clock: Clock) -> None:
    """Five tasks with ties on every sort key, created in this order (so ids ascend)."""
    await add(repo, "banana", priority="high", due_date="2026-03-01")
    clock.advance(timedelta(minutes=1))
    await add(repo, "Apple", priority="low")
    clock.advance(timedelta(minutes=1))
    await add(repo, "cherry", priority="medium", due_date="2026-01-15")
    clock.advance(timedelta(minutes=1))
    await add(repo, "apple", priority="high", due_date="2026-03-01")
    await add(repo, "Date", priority="low")  # created at the same instant as "apple"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["banana", "Apple", "cherry", "apple", "Date"]),
        ("-created_at", ["apple", "Date", "cherry", "Apple", "banana"]),
        ("due_date", ["cherry", "banana", "apple", "Apple", "Date"]),
        ("-due_date", ["banana", "apple", "cherry", "Apple", "Date"]),
        ("priority", ["Apple", "Date", "cherry", "banana", "apple"]),
        ("-priority", ["banana", "apple", "cherry", "Apple", "Date"]),
        ("title", ["Apple", "apple", "banana", "cherry", "Date"]),
        ("-title", ["Date", "cherry", "banana", "Apple", "apple"]),
    ],
)
@pytest.mark.usefixtures("assorted")
async def test_sorting_follows_the_spec_and_breaks_ties_by_id(
    repo: TaskRepository, sort: str, expected: list[str]
) -> None:
    assert await titles(repo, sort=sort) == expected


@pytest.mark.usefixtures("assorted")
async def test_default_order_is_oldest_first(repo: TaskRepository) -> None:
    assert await titles(repo) == ["banana", "Apple", "cherry", "apple", "Date"]


async def test_title_sort_is_case_insensitive_beyond_ascii(tasks: TaskRepository) -> None:
    await add(tasks, "Ölbild")
    await add(tasks, "öffnen")
    await add(tasks, "ÖFEN")

    assert await titles(tasks, sort="title") == ["ÖFEN", "öffnen", "Ölbild"]
    assert await titles(tasks, sort="-title") == ["Ölbild", "öffnen", "ÖFEN"]


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        (3, 0, ["t0", "t1", "t2"]),
        (3, 3, ["t3", "t4", "t5"]),
        (3, 6, ["t6"]),
        (4, 3, ["t3", "t4", "t5", "t6"]),  # exactly the rest
        (7, 0, ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]),
        (6, 0, ["t0", "t1", "t2", "t3", "t4", "t5"]),  # one short of all
        (3, 7, []),
        (500, 100, []),
        (1, 4, ["t4"]),
    ],
)
async def test_limit_and_offset_page_through_with_the_full_total(
    tasks: TaskRepository, limit: int, offset: int, expected: list[str]
) -> None:
    for i in range(7):
        await add(tasks, f"t{i}")
    await add(tasks, "Bob's", user=BOB)

    page = await tasks.list(ALICE, TaskQuery(limit=limit, offset=offset))

    assert [t.title for t in page.tasks] == expected
    assert page.total == 7


async def test_total_counts_the_matches_of_the_filters(tasks: TaskRepository) -> None:
    for i in range(5):
        await add(tasks, f"done {i}", completed=True)
    await add(tasks, "open")

    page = await tasks.list(ALICE, TaskQuery(status="completed", limit=2))
    assert [t.title for t in page.tasks] == ["done 0", "done 1"]
    assert page.total == 5
    past_the_end = await tasks.list(ALICE, TaskQuery(status="completed", offset=10))
    assert (past_the_end.tasks, past_the_end.total) == ([], 5)
    nothing = await tasks.list(ALICE, TaskQuery(query="nowhere"))
    assert (nothing.tasks, nothing.total) == ([], 0)


# --- update -----------------------------------------------------------------------------------


async def test_update_changes_only_the_given_fields(repo: TaskRepository) -> None:
    task = await add(repo, "t", description="d", priority="low", due_date="2026-05-01", tags=["a"])

    updated = await repo.update(ALICE, task.id, TaskUpdate(priority="high", completed=True))

    assert updated.priority is Priority.high
    assert updated.completed is True
    unchanged = ("title", "description", "due_date", "tags", "created_at", "id", "user_id")
    for field in unchanged:
        assert getattr(updated, field) == getattr(task, field), field
    assert await repo.get(ALICE, task.id) == updated


async def test_update_with_none_clears_description_and_due_date(tasks: TaskRepository) -> None:
    task = await add(tasks, "t", description="d", due_date="2026-05-01")

    updated = await tasks.update(ALICE, task.id, TaskUpdate(description=None, due_date=None))

    assert (updated.description, updated.due_date) == (None, None)
    assert await tasks.get(ALICE, task.id) == updated
    assert await titles(tasks, due_before="2030-01-01") == []


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"title": "Same"},
        {"title": "  Same  "},
        {"description": "d", "priority": "low", "due_date": "2026-05-01"},
        {"tags": ["a", "b"], "completed": False},
        {"tags": ["a", "b", "a"]},
    ],
)
async def test_update_to_the_same_values_changes_nothing(
    repo: TaskRepository, clock: Clock, changes: dict[str, Any]
) -> None:
    task = await add(
        repo, "Same", description="d", priority="low", due_date="2026-05-01", tags=["a", "b"]
    )
    clock.advance(timedelta(hours=1))

    result = await repo.update(ALICE, task.id, TaskUpdate.model_validate(changes))

    assert result == task
    assert await repo.get(ALICE, task.id) == task


async def test_update_bumps_version_and_updated_at(repo: TaskRepository, clock: Clock) -> None:
    task = await add(repo, "before")
    clock.advance(timedelta(hours=1))

    updated = await repo.update(ALICE, task.id, TaskUpdate(title="after"))

    assert updated.version == task.version + 1
    assert updated.updated_at == clock.now
    assert updated.updated_at > task.updated_at
    assert updated.created_at == task.created_at
    clock.advance(timedelta(hours=1))
    again = await repo.update(ALICE, task.id, TaskUpdate(completed=True))
    assert (again.version, again.updated_at) == (task.version + 2, clock.now)


async def test_update_with_a_clock_behind_does_not_move_updated_at_back(
    repo: TaskRepository, clock: Clock
) -> None:
    task = await add(repo, "before")
    clock.advance(timedelta(hours=-1))

    updated = await repo.update(ALICE, task.id, TaskUpdate(title="after"))

    assert updated.updated_at == task.updated_at
    assert updated.version == task.version + 1


async def test_update_with_a_stale_expected_version_fails_and_changes_nothing(
    tasks: TaskRepository,
) -> None:
    task = await add(tasks, "v1")
    current = await tasks.update(ALICE, task.id, TaskUpdate(title="v2"))

    with pytest.raises(VersionMismatchError) as caught:
        await tasks.update(ALICE, task.id, TaskUpdate(title="lost"), expected_version=1)

    assert (caught.value.task_id, caught.value.expected, caught.value.actual) == (task.id, 1, 2)
    assert await tasks.get(ALICE, task.id) == current


async def test_update_with_the_current_expected_version_succeeds(tasks: TaskRepository) -> None:
    task = await add(tasks, "v1")

    updated = await tasks.update(ALICE, task.id, TaskUpdate(title="v2"), expected_version=1)

    assert (updated.title, updated.version) == ("v2", 2)


async def test_update_of_another_users_task_is_not_found_and_changes_nothing(
    tasks: TaskRepository,
) -> None:
    task = await add(tasks, "Alice's")

    with pytest.raises(TaskNotFoundError):
        await tasks.update(BOB, task.id, TaskUpdate(title="Bob was here"))
    with pytest.raises(TaskNotFoundError):
        await tasks.update(BOB, task.id, TaskUpdate(title="Bob was here"), expected_version=7)

    assert await tasks.get(ALICE, task.id) == task


async def test_update_of_a_missing_task_is_not_found(tasks: TaskRepository) -> None:
    with pytest.raises(TaskNotFoundError):
        await tasks.update(ALICE, 999, TaskUpdate())


async def test_concurrent_updates_from_one_version_let_exactly_one_win(
    tasks: TaskRepository,
) -> None:
    task = await add(tasks, "v1")
    winners: list[TaskPublic] = []
    losers: list[VersionMismatchError] = []

    async def update(title: str) -> None:
        try:
            change = TaskUpdate(title=title)
            winners.append(await tasks.update(ALICE, task.id, change, expected_version=1))
        except VersionMismatchError as exc:
            losers.append(exc)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for i in range(5):
                group.start_soon(update, f"writer {i}")

    assert len(winners) == 1
    assert len(losers) == 4
    assert await tasks.get(ALICE, task.id) == winners[0]
    assert winners[0].version == 2


# --- delete -----------------------------------------------------------------------------------


async def test_delete_returns_the_task_and_then_it_is_gone(tasks: TaskRepository) -> None:
    task = await add(tasks, "bye", tags=["x"])

    assert await tasks.delete(ALICE, task.id) == task

    with pytest.raises(TaskNotFoundError):
        await tasks.get(ALICE, task.id)
    with pytest.raises(TaskNotFoundError):
        await tasks.delete(ALICE, task.id)
    assert (await tasks.list(ALICE, TaskQuery())).total == 0


async def test_delete_with_a_stale_expected_version_fails_and_keeps_the_task(
    tasks: TaskRepository,
) -> None:
    task = await add(tasks, "v1")
    current = await tasks.update(ALICE, task.id, TaskUpdate(title="v2"))

    with pytest.raises(VersionMismatchError) as caught:
        await tasks.delete(ALICE, task.id, expected_version=1)

    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert await tasks.get(ALICE, task.id) == current


async def test_delete_with_the_current_expected_version_deletes(tasks: TaskRepository) -> None:
    task = await add(tasks, "v1")

    assert await tasks.delete(ALICE, task.id, expected_version=1) == task
    with pytest.raises(TaskNotFoundError):
        await tasks.get(ALICE, task.id)


async def test_delete_of_another_users_task_is_not_found_and_keeps_it(
    tasks: TaskRepository,
) -> None:
    task = await add(tasks, "Alice's")

    with pytest.raises(TaskNotFoundError):
        await tasks.delete(BOB, task.id)
    with pytest.raises(TaskNotFoundError):
        await tasks.delete(BOB, task.id, expected_version=1)

    assert await tasks.get(ALICE, task.id) == task


async def test_delete_of_a_missing_task_with_expected_version_is_not_found(
    tasks: TaskRepository,
) -> None:
    with pytest.raises(TaskNotFoundError):
        await tasks.delete(ALICE, 999, expected_version=1)


# --- idempotency keys -------------------------------------------------------------------------


async def test_repeat_with_the_same_key_and_data_returns_the_first_task(
    tasks: TaskRepository,
) -> None:
    data = TaskCreate(title="once", tags=["a"], due_date="2026-06-01")

    first = await tasks.create(ALICE, data, idempotency_key="k-1")
    again = await tasks.create(ALICE, data, idempotency_key="k-1")

    assert again == first
    assert (await tasks.list(ALICE, TaskQuery())).total == 1


async def test_same_key_with_different_data_is_rejected(tasks: TaskRepository) -> None:
    await tasks.create(ALICE, TaskCreate(title="once"), idempotency_key="k-1")

    with pytest.raises(IdempotencyKeyReusedError) as caught:
        await tasks.create(ALICE, TaskCreate(title="other"), idempotency_key="k-1")

    assert caught.value.key == "k-1"
    assert await titles(tasks) == ["once"]


async def test_idempotency_keys_are_per_user(tasks: TaskRepository) -> None:
    mine = await tasks.create(ALICE, TaskCreate(title="same"), idempotency_key="k-1")
    theirs = await tasks.create(BOB, TaskCreate(title="same"), idempotency_key="k-1")
    other_data = await tasks.create(BOB, TaskCreate(title="other"), idempotency_key="k-2")

    assert mine.id != theirs.id
    assert (theirs.user_id, other_data.user_id) == (BOB, BOB)
    assert await titles(tasks, ALICE) == ["same"]
    assert await titles(tasks, BOB) == ["same", "other"]


async def test_idempotency_key_is_kept_for_24_hours(repo: TaskRepository, clock: Clock) -> None:
    first = await repo.create(ALICE, TaskCreate(title="once"), idempotency_key="k-1")

    clock.advance(timedelta(hours=23))
    within = await repo.create(ALICE, TaskCreate(title="once"), idempotency_key="k-1")
    clock.advance(timedelta(hours=2))
    after = await repo.create(ALICE, TaskCreate(title="once"), idempotency_key="k-1")

    assert within == first
    assert after.id != first.id
    assert after.created_at == clock.now
    assert await titles(repo) == ["once", "once"]


async def test_expired_key_may_be_used_with_other_data(repo: TaskRepository, clock: Clock) -> None:
    await repo.create(ALICE, TaskCreate(title="first"), idempotency_key="k-1")
    clock.advance(timedelta(hours=25))

    second = await repo.create(ALICE, TaskCreate(title="second"), idempotency_key="k-1")
    repeat = await repo.create(ALICE, TaskCreate(title="second"), idempotency_key="k-1")

    assert repeat == second
    assert await titles(repo) == ["first", "second"]


async def test_concurrent_creates_with_the_same_key_create_one_task(
    tasks: TaskRepository,
) -> None:
    results: list[TaskPublic] = []
    in_flight: list[IdempotencyKeyInFlightError] = []

    async def create() -> None:
        data = TaskCreate(title="exactly once")
        try:
            results.append(await tasks.create(ALICE, data, idempotency_key="k-1"))
        except IdempotencyKeyInFlightError as exc:
            in_flight.append(exc)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(create)

    assert results
    assert len(results) + len(in_flight) == 5
    assert len({task.id for task in results}) == 1
    page = await tasks.list(ALICE, TaskQuery())
    assert page.total == 1
    assert page.tasks[0] == results[0]
    # Once the first is done, a repeat gets its answer.
    repeat = await tasks.create(ALICE, TaskCreate(title="exactly once"), idempotency_key="k-1")
    assert repeat == results[0]


_keys = IdempotencyRecord.__table__  # type: ignore[attr-defined]


async def leave_claim(db: Database, key: str, claimed_at: datetime, title: str) -> None:
    """A claim on `key` as a create that is running (or whose process died) leaves it."""
    request_hash = request_digest(TaskCreate(title=title))
    async with db.writing() as conn:
        await conn.execute(
            sa.insert(_keys).values(
                user_id=ALICE,
                key=key,
                request_hash=request_hash,
                response=None,
                created_at=claimed_at,
            )
        )


async def test_a_key_claimed_by_a_running_create_is_in_flight(
    db: Database, repo: TaskRepository, clock: Clock
) -> None:
    await leave_claim(db, "k-1", clock.now - timedelta(seconds=5), "Pay rent")

    with pytest.raises(IdempotencyKeyInFlightError):
        await repo.create(ALICE, TaskCreate(title="Pay rent"), idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReusedError):
        await repo.create(ALICE, TaskCreate(title="Other"), idempotency_key="k-1")
    assert await titles(repo) == []


async def test_a_stale_claim_is_taken_over(
    db: Database, repo: TaskRepository, clock: Clock
) -> None:
    await leave_claim(db, "k-1", clock.now - STALE_CLAIM - timedelta(seconds=1), "Pay rent")

    task = await repo.create(ALICE, TaskCreate(title="Pay rent"), idempotency_key="k-1")
    repeat = await repo.create(ALICE, TaskCreate(title="Pay rent"), idempotency_key="k-1")

    assert repeat == task
    assert await titles(repo) == ["Pay rent"]


async def test_a_create_that_lost_its_claim_claims_again_at_a_fresh_time(
    db: Database, repo: TaskRepository, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim was taken over as stale while this create ran, and that create then failed
    and released it: this one claims again, as old as the new attempt (a retry that kept its
    first reading would be judged stale, and judge others, by an old time)."""
    first_attempt = clock.now
    complete = IdempotencyKeys.complete
    lost = False

    async def lose_the_first(conn: Any, user_id: str, key: str, *args: Any) -> None:
        nonlocal lost
        if not lost:
            lost = True
            # Taken over and released meanwhile; time has gone on.
            await conn.execute(sa.delete(_keys).where(_keys.c.key == key))
            clock.advance(timedelta(minutes=3))
            raise ClaimLostError()
        await complete(conn, user_id, key, *args)

    monkeypatch.setattr(IdempotencyKeys, "complete", staticmethod(lose_the_first))
    task = await repo.create(ALICE, TaskCreate(title="Pay rent"), idempotency_key="k-1")

    assert lost
    assert task.created_at == first_attempt + timedelta(minutes=3)
    assert await titles(repo) == ["Pay rent"]
    async with db.autocommit() as conn:
        claimed = (await conn.execute(sa.select(_keys.c.created_at))).scalar_one()
    assert claimed == task.created_at


async def test_a_failed_create_releases_its_key(db: Database, clock: Clock) -> None:
    repo = TaskRepository(db, quota=1, clock=clock)
    first = await add(repo, "first")
    with pytest.raises(QuotaExceededError):
        await repo.create(ALICE, TaskCreate(title="second"), idempotency_key="k-1")
    await repo.delete(ALICE, first.id)

    # At once, not after the claim goes stale.
    second = await repo.create(ALICE, TaskCreate(title="second"), idempotency_key="k-1")

    assert await titles(repo) == ["second"]
    assert second.title == "second"


async def test_creates_beyond_the_quota_are_refused_even_when_concurrent(db: Database) -> None:
    repository = TaskRepository(db, quota=3)
    first = await repository.create("alice", TaskCreate(title="first"), idempotency_key="k1")
    outcomes: list[str] = []

    async def attempt(n: int) -> None:
        try:
            await repository.create("alice", TaskCreate(title=f"racing {n}"))
        except QuotaExceededError:
            outcomes.append("refused")
        else:
            outcomes.append("created")

    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(attempt, n)

    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 4
    assert (await repository.list("alice", TaskQuery())).total == 3
    # A replayed idempotent create is not a new task: at the quota it still answers, with
    # the first task, and the count stays.
    assert (
        await repository.create("alice", TaskCreate(title="first"), idempotency_key="k1") == first
    )
    assert (await repository.list("alice", TaskQuery())).total == 3
    # The quota is per user.
    bobs = await repository.create("bob", TaskCreate(title="bob's own"))
    assert bobs.user_id == "bob"
    assert (await repository.list("bob", TaskQuery())).total == 1


async def test_deletes_give_back_room_under_the_quota_and_refused_deletes_do_not(
    db: Database,
) -> None:
    repository = TaskRepository(db, quota=2)
    first = await repository.create(ALICE, TaskCreate(title="one"))
    await repository.create(ALICE, TaskCreate(title="two"))
    with pytest.raises(QuotaExceededError):
        await repository.create(ALICE, TaskCreate(title="three"))

    with pytest.raises(VersionMismatchError):
        await repository.delete(ALICE, first.id, expected_version=first.version + 1)
    with pytest.raises(TaskNotFoundError):
        await repository.delete(ALICE, 999)
    with pytest.raises(TaskNotFoundError):
        await repository.delete(BOB, first.id)
    with pytest.raises(QuotaExceededError):
        await repository.create(ALICE, TaskCreate(title="still full"))

    await repository.delete(ALICE, first.id)
    await repository.create(ALICE, TaskCreate(title="three"))
    with pytest.raises(QuotaExceededError):
        await repository.create(ALICE, TaskCreate(title="four"))
    assert await _counts(db) == {ALICE: 2}


async def test_the_counts_match_the_tasks_after_concurrent_creates_and_deletes(
    db: Database,
) -> None:
    repository = TaskRepository(db, quota=50)
    doomed = [await repository.create(ALICE, TaskCreate(title=f"old {n}")) for n in range(10)]

    async def create(user: str, n: int) -> None:
        await repository.create(user, TaskCreate(title=f"new {n}"))

    async with anyio.create_task_group() as group:
        for n, task in enumerate(doomed):
            group.start_soon(repository.delete, ALICE, task.id)
            group.start_soon(create, ALICE, n)
            group.start_soon(create, BOB, n)

    assert await _counts(db) == {
        ALICE: (await repository.list(ALICE, TaskQuery())).total,
        BOB: (await repository.list(BOB, TaskQuery())).total,
    }
    assert await _counts(db) == {ALICE: 10, BOB: 10}
    # What a user notices of the counts: room for exactly the tasks the quota has left.
    tight = TaskRepository(db, quota=11)
    await tight.create(ALICE, TaskCreate(title="the eleventh"))
    with pytest.raises(QuotaExceededError):
        await tight.create(ALICE, TaskCreate(title="the twelfth"))


async def _counts(db: Database) -> dict[str, int]:
    async with db.autocommit() as conn:
        rows = await conn.execute(sa.text("SELECT user_id, tasks FROM task_count"))
        return dict(rows.all())


async def test_an_idempotent_replay_at_the_quota_still_answers(db: Database) -> None:
    repository = TaskRepository(db, quota=1)
    first = await repository.create("alice", TaskCreate(title="one"), idempotency_key="k")
    again = await repository.create("alice", TaskCreate(title="one"), idempotency_key="k")
    assert again == first
    with pytest.raises(QuotaExceededError):
        await repository.create("alice", TaskCreate(title="two"))


# --- numbers no column can hold ---------------------------------------------------------------


@pytest.mark.parametrize("number", [0, -1, 2**31, 2**63, 10**30])
async def test_an_id_out_of_the_columns_range_is_not_found_without_a_driver_error(
    tasks: TaskRepository, number: int
) -> None:
    with pytest.raises(TaskNotFoundError):
        await tasks.get(ALICE, number)
    with pytest.raises(TaskNotFoundError):
        await tasks.update(ALICE, number, TaskUpdate(title="x"))
    with pytest.raises(TaskNotFoundError):
        await tasks.delete(ALICE, number)


@pytest.mark.parametrize("number", [0, 2**31, 2**63, 10**30])
async def test_a_version_out_of_the_columns_range_is_a_mismatch_without_a_driver_error(
    tasks: TaskRepository, number: int
) -> None:
    task = await tasks.create(ALICE, TaskCreate(title="t"))

    with pytest.raises(VersionMismatchError):
        await tasks.update(ALICE, task.id, TaskUpdate(title="x"), expected_version=number)
    with pytest.raises(VersionMismatchError):
        await tasks.delete(ALICE, task.id, expected_version=number)
    with pytest.raises(TaskNotFoundError):
        await tasks.delete(ALICE, task.id + 1, expected_version=number)
    assert await tasks.get(ALICE, task.id) == task


async def test_tags_are_the_users_own_once_each_most_used_first(repo: TaskRepository) -> None:
    await add(repo, "a", tags=["home", "shop"])
    await add(repo, "b", tags=["work", "home"])
    await add(repo, "c", tags=["Home"])
    await add(repo, "d")
    await add(repo, "e", user=BOB, tags=["bobs"])

    assert await repo.tags(ALICE) == ["home", "Home", "shop", "work"]
    assert await repo.tags(BOB) == ["bobs"]
    assert await repo.tags("nobody") == []
