"""Recurring tasks: the RRULE subset and its refusals, and the next occurrence a completion
creates (on SQLite and PostgreSQL alike)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from storage.database import Database
from storage.errors import QuotaExceededError, RecurrenceNeedsDueDateError, VersionMismatchError
from storage.models import TaskCreate, TaskQuery, TaskResult, TaskUpdate, as_result
from storage.recurrence import RuleError, next_occurrence, normalize
from storage.tasks import TaskRepository

ALICE = "alice"


# --- the subset --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "canonical"),
    [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("freq=weekly;byday=mo,we", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        ("FREQ=YEARLY;INTERVAL=2", "FREQ=YEARLY;INTERVAL=2"),
        ("COUNT=3;FREQ=DAILY", "FREQ=DAILY;COUNT=3"),
        ("FREQ=DAILY;UNTIL=20261231T235959Z", "FREQ=DAILY;UNTIL=20261231"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=MONTHLY;BYMONTHDAY=1,15"),
    ],
)
def test_rules_of_the_subset_are_kept_in_one_spelling(rule: str, canonical: str) -> None:
    assert normalize(rule) == canonical


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("FREQ=HOURLY", "FREQ=HOURLY"),
        ("FREQ=SECONDLY", "FREQ=SECONDLY"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR"),
        ("FREQ=MONTHLY;BYSETPOS=-1", "BYSETPOS"),
        ("FREQ=YEARLY;BYMONTH=2", "BYMONTH"),
        ("FREQ=DAILY;WKST=MO", "WKST"),
        ("INTERVAL=2", "FREQ"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;COUNT=two", "COUNT"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT and UNTIL"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY=XX"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY=1MO"),
        ("FREQ=WEEKLY;BYMONTHDAY=3", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY=32"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0"),
        ("FREQ=DAILY;UNTIL=20260230", "UNTIL"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("every monday", "'every monday'"),
    ],
)
def test_rules_outside_the_subset_are_refused_naming_the_part(rule: str, named: str) -> None:
    with pytest.raises(RuleError, match=named.replace("(", r"\(")):
        normalize(rule)


def test_a_task_refuses_a_rule_outside_the_subset_naming_it() -> None:
    with pytest.raises(ValidationError, match="BYHOUR"):
        TaskCreate(title="t", due_date=date(2026, 1, 1), recurrence="FREQ=DAILY;BYHOUR=9")


def test_a_recurring_task_needs_a_due_date() -> None:
    with pytest.raises(ValidationError, match="due_date"):
        TaskCreate(title="t", recurrence="FREQ=DAILY")
    with pytest.raises(ValidationError, match="due_date"):
        TaskUpdate(recurrence="FREQ=DAILY", due_date=None)


@pytest.mark.parametrize(
    ("rule", "due", "following"),
    [
        ("FREQ=DAILY", "2026-12-31", "2027-01-01"),
        ("FREQ=DAILY;INTERVAL=3", "2026-03-01", "2026-03-04"),
        ("FREQ=WEEKLY", "2026-12-07", "2026-12-14"),
        ("FREQ=WEEKLY;BYDAY=MO,TH", "2026-12-07", "2026-12-10"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "2026-12-07", "2026-12-21"),
        # A task due on a Wednesday, repeating on Mondays: the next Monday.
        ("FREQ=WEEKLY;BYDAY=MO", "2026-12-09", "2026-12-14"),
        ("FREQ=MONTHLY", "2026-01-15", "2026-02-15"),
        # Months without a 31st are skipped (RFC 5545), whether by rule or by the start date.
        ("FREQ=MONTHLY;BYMONTHDAY=31", "2026-01-31", "2026-03-31"),
        ("FREQ=MONTHLY;BYMONTHDAY=31", "2026-03-31", "2026-05-31"),
        ("FREQ=MONTHLY", "2026-01-31", "2026-03-31"),
        # The last day of each month.
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-31", "2026-02-28"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "2028-01-31", "2028-02-29"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "2026-12-25", "2027-01-29"),
        ("FREQ=YEARLY", "2026-06-01", "2027-06-01"),
        ("FREQ=YEARLY", "2024-02-29", "2028-02-29"),
        ("FREQ=DAILY;UNTIL=20261208", "2026-12-07", "2026-12-08"),
    ],
)
def test_the_next_occurrence_follows_the_rule(rule: str, due: str, following: str) -> None:
    result = next_occurrence(normalize(rule), date.fromisoformat(due))
    assert result is not None
    assert result[0] == date.fromisoformat(following)


def test_count_counts_the_occurrences_left_and_until_ends_the_rule() -> None:
    assert next_occurrence("FREQ=DAILY;COUNT=3", date(2026, 1, 1)) == (
        date(2026, 1, 2),
        "FREQ=DAILY;COUNT=2",
    )
    assert next_occurrence("FREQ=DAILY;COUNT=1", date(2026, 1, 1)) is None
    assert next_occurrence("FREQ=DAILY;UNTIL=20260101", date(2026, 1, 1)) is None
    assert next_occurrence("FREQ=YEARLY", date(9999, 6, 1)) is None


# --- successors in the database --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(db: Database, clock: Clock) -> TaskRepository:
    return TaskRepository(db, clock=clock)


async def change(
    repo: TaskRepository, task_id: int, changes: TaskUpdate, **options: Any
) -> TaskResult:
    """The update as a write's result (naming the next occurrence it created, if any)."""
    return as_result(await repo.update(ALICE, task_id, changes, **options))


async def recurring(repo: TaskRepository, rule: str, due: str, **fields: object) -> int:
    data = TaskCreate.model_validate(
        {"title": "Water the plants", "due_date": due, "recurrence": rule, **fields}
    )
    return (await repo.create(ALICE, data)).id


@pytest.mark.parametrize(
    ("rule", "due", "following"),
    [
        ("FREQ=DAILY", "2026-02-28", "2026-03-01"),
        ("FREQ=WEEKLY;BYDAY=MO", "2026-12-07", "2026-12-14"),
        ("FREQ=MONTHLY;BYMONTHDAY=31", "2026-01-31", "2026-03-31"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-31", "2026-02-28"),
        ("FREQ=YEARLY", "2024-02-29", "2028-02-29"),
    ],
)
async def test_completing_a_recurring_task_creates_its_next_occurrence(
    repo: TaskRepository, clock: Clock, rule: str, due: str, following: str
) -> None:
    first_id = await recurring(
        repo, rule, due, description="all of them", priority="high", tags=["home"]
    )

    done = await change(repo, first_id, TaskUpdate(completed=True))

    assert done.completed
    assert done.completed_at == clock.now
    assert done.next_task_id is not None
    successor = await repo.get(ALICE, done.next_task_id)
    assert successor.due_date == date.fromisoformat(following)
    assert not successor.completed
    assert successor.completed_at is None
    assert successor.recurrence == normalize(rule)
    assert (successor.title, successor.description, successor.priority, successor.tags) == (
        done.title,
        done.description,
        done.priority,
        done.tags,
    )


async def test_reopening_and_completing_again_makes_no_second_successor(
    repo: TaskRepository,
) -> None:
    task_id = await recurring(repo, "FREQ=DAILY", "2026-03-01")
    first = await change(repo, task_id, TaskUpdate(completed=True))
    reopened = await change(repo, task_id, TaskUpdate(completed=False))
    again = await change(repo, task_id, TaskUpdate(completed=True))
    # A completion that changes nothing makes nothing either.
    repeated = await change(repo, task_id, TaskUpdate(completed=True))

    assert first.next_task_id is not None
    assert reopened.next_task_id is None
    assert not reopened.completed
    assert again.next_task_id is None
    assert repeated.next_task_id is None
    assert (await repo.list(ALICE, TaskQuery())).total == 2


async def test_count_runs_out_after_n_occurrences_in_all(repo: TaskRepository) -> None:
    task_id = await recurring(repo, "FREQ=DAILY;COUNT=3", "2026-03-01")
    dues = []
    while task_id is not None:
        done = await change(repo, task_id, TaskUpdate(completed=True))
        dues.append((done.due_date, done.recurrence))
        task_id = done.next_task_id  # type: ignore[assignment]

    assert dues == [
        (date(2026, 3, 1), "FREQ=DAILY;COUNT=3"),
        (date(2026, 3, 2), "FREQ=DAILY;COUNT=2"),
        (date(2026, 3, 3), "FREQ=DAILY;COUNT=1"),
    ]


async def test_a_rule_past_its_until_creates_nothing(repo: TaskRepository) -> None:
    task_id = await recurring(repo, "FREQ=WEEKLY;UNTIL=20260305", "2026-03-01")

    done = await change(repo, task_id, TaskUpdate(completed=True))

    assert done.completed
    assert done.next_task_id is None
    assert (await repo.list(ALICE, TaskQuery())).total == 1


async def test_a_completion_with_a_stale_version_changes_nothing(repo: TaskRepository) -> None:
    task_id = await recurring(repo, "FREQ=DAILY", "2026-03-01")

    with pytest.raises(VersionMismatchError):
        await change(repo, task_id, TaskUpdate(completed=True), expected_version=7)

    assert (await repo.list(ALICE, TaskQuery())).total == 1
    assert not (await repo.get(ALICE, task_id)).completed


async def test_a_completion_whose_successor_exceeds_the_quota_changes_nothing(
    db: Database,
) -> None:
    repo = TaskRepository(db, quota=1)
    task_id = await recurring(repo, "FREQ=DAILY", "2026-03-01")

    with pytest.raises(QuotaExceededError):
        await change(repo, task_id, TaskUpdate(completed=True))

    assert not (await repo.get(ALICE, task_id)).completed


async def test_clearing_the_due_date_of_a_recurring_task_is_refused(repo: TaskRepository) -> None:
    task_id = await recurring(repo, "FREQ=DAILY", "2026-03-01")
    plain = await repo.create(ALICE, TaskCreate(title="no date"))

    with pytest.raises(RecurrenceNeedsDueDateError):
        await change(repo, task_id, TaskUpdate(due_date=None))
    with pytest.raises(RecurrenceNeedsDueDateError):
        await change(repo, plain.id, TaskUpdate(recurrence="FREQ=DAILY"))

    # Both at once, or the rule first, is fine.
    cleared = await change(repo, task_id, TaskUpdate(due_date=None, recurrence=None))
    assert cleared.recurrence is None
    assert cleared.due_date is None


async def test_completed_at_is_set_on_completion_and_cleared_on_reopening(
    repo: TaskRepository, clock: Clock
) -> None:
    task = await repo.create(ALICE, TaskCreate(title="open"))
    assert task.completed_at is None

    clock.now += timedelta(hours=1)
    done = await change(repo, task.id, TaskUpdate(completed=True))
    clock.now += timedelta(hours=1)
    # Another change to a done task keeps the time it was done.
    renamed = await change(repo, task.id, TaskUpdate(title="renamed"))
    # So does a full replace that says it is done (as PUT does).
    replaced = await change(repo, task.id, TaskUpdate(title="replaced", completed=True))
    reopened = await change(repo, task.id, TaskUpdate(completed=False))
    born_done = await repo.create(ALICE, TaskCreate(title="done already", completed=True))

    assert done.completed_at == clock.now - timedelta(hours=1)
    assert renamed.completed_at == done.completed_at
    assert replaced.completed_at == done.completed_at
    assert reopened.completed_at is None
    assert born_done.completed_at == clock.now


async def test_tasks_sort_by_completion_time_with_open_ones_last(
    repo: TaskRepository, clock: Clock
) -> None:
    ids = [(await repo.create(ALICE, TaskCreate(title=f"t{n}"))).id for n in range(4)]
    for task_id in (ids[2], ids[0]):
        clock.now += timedelta(minutes=1)
        await change(repo, task_id, TaskUpdate(completed=True))

    ascending = await repo.list(ALICE, TaskQuery(sort="completed_at"))
    descending = await repo.list(ALICE, TaskQuery(sort="-completed_at"))

    assert [t.id for t in ascending.tasks] == [ids[2], ids[0], ids[1], ids[3]]
    assert [t.id for t in descending.tasks] == [ids[0], ids[2], ids[1], ids[3]]
