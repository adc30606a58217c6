"""The change log, on SQLite and PostgreSQL: every task write appends its change in its own
transaction, in commit order, and delta sync reads them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import asyncpg
import pytest
import sqlalchemy as sa

from storage.change_notify import CHANNEL
from storage.changes import ChangeExpiredError, ChangeLog, ChangeNotIssuedError
from storage.database import Database
from storage.errors import QuotaExceededError, TaskNotFoundError, VersionMismatchError
from storage.models import ListCreate, TaskCreate, TaskPublic, TaskResult, TaskUpdate
from storage.tasks import TaskRepository

ALICE = "alice"
BOB = "bob"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def log(db: Database) -> ChangeLog:
    return ChangeLog(db)


def new(title: str) -> TaskCreate:
    return TaskCreate.model_validate({"title": title})


async def test_every_kind_of_write_logs_its_change(tasks: TaskRepository, log: ChangeLog) -> None:
    task = await tasks.create(ALICE, new("buy milk"))
    updated = await tasks.update(ALICE, task.id, TaskUpdate(completed=True))
    keyed = await tasks.create(ALICE, new("keyed"), idempotency_key="k1")
    await tasks.create(ALICE, new("keyed"), idempotency_key="k1")  # a replay writes nothing
    await tasks.delete(ALICE, task.id, expected_version=updated.version)

    page = await log.since(ALICE, 0, 100)
    assert [(c.op, c.task_id, c.version) for c in page.changes] == [
        ("created", task.id, 1),
        ("updated", task.id, 2),
        ("created", keyed.id, 1),
        ("deleted", task.id, 2),
    ]
    assert page.changes[0].task == task.model_dump(mode="json")
    assert page.changes[1].task == updated.model_dump(mode="json")
    assert page.changes[3].task is None
    seqs = [c.seq for c in page.changes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 4
    assert page.next == seqs[-1]
    assert page.more is False


async def test_writes_that_change_nothing_log_nothing(db: Database, log: ChangeLog) -> None:
    tasks = TaskRepository(db, quota=1)
    task = await tasks.create(ALICE, new("one"))
    head = await log.head()
    await tasks.update(ALICE, task.id, TaskUpdate(title="one"))  # the same value
    await tasks.update(ALICE, task.id, TaskUpdate())
    with pytest.raises(VersionMismatchError):
        await tasks.update(ALICE, task.id, TaskUpdate(title="two"), expected_version=9)
    with pytest.raises(VersionMismatchError):
        await tasks.delete(ALICE, task.id, expected_version=9)
    with pytest.raises(TaskNotFoundError):
        await tasks.delete(ALICE, task.id + 1)
    with pytest.raises(QuotaExceededError):
        await tasks.create(ALICE, new("over the quota"))
    assert await log.head() == head
    assert (await log.since(ALICE, head, 10)).changes == []


async def test_a_user_reads_only_their_changes_in_pages(
    tasks: TaskRepository, log: ChangeLog
) -> None:
    mine = [await tasks.create(ALICE, new(f"a{i}")) for i in range(5)]
    await tasks.create(BOB, new("bob's"))
    first = await log.since(ALICE, 0, 3)
    assert [c.task_id for c in first.changes] == [t.id for t in mine[:3]]
    assert first.more is True
    assert first.next == first.changes[-1].seq
    second = await log.since(ALICE, first.next, 3)
    assert [c.task_id for c in second.changes] == [t.id for t in mine[3:]]
    assert second.more is False
    # Bob's later change is not Alice's, but her cursor moves past it.
    assert second.next == await log.head()
    assert (await log.since(ALICE, second.next, 3)).changes == []


async def test_a_since_beyond_the_head_is_refused(tasks: TaskRepository, log: ChangeLog) -> None:
    await tasks.create(ALICE, new("one"))
    head = await log.head()
    with pytest.raises(ChangeNotIssuedError):
        await log.since(ALICE, head + 1, 10)


async def test_pruning_drops_only_old_changes_and_old_cursors_expire(db: Database) -> None:
    clock = Clock()
    log = ChangeLog(db, clock=clock)
    tasks = TaskRepository(db)
    old = [await tasks.create(ALICE, new(f"old {i}")) for i in range(5)]
    middle = await log.head()
    last_old = (await log.since(ALICE, middle - 1, 1)).changes[0].at
    fresh = await tasks.create(ALICE, new("fresh"))
    clock.now = last_old + timedelta(days=7, microseconds=1)
    assert await log.prune(timedelta(days=7), batch=2) == len(old)
    assert await log.prune(timedelta(days=7), batch=2) == 0
    with pytest.raises(ChangeExpiredError):
        await log.since(ALICE, 0, 10)
    with pytest.raises(ChangeExpiredError):
        await log.since(ALICE, middle - 1, 10)
    page = await log.since(ALICE, middle, 10)
    assert [c.task_id for c in page.changes] == [fresh.id]
    # Everything pruned: a cursor at the head is still good, one below it is not.
    clock.now += timedelta(days=30)
    await log.prune(timedelta(days=7))
    head = await log.head()
    assert (await log.since(ALICE, head, 10)).changes == []
    with pytest.raises(ChangeExpiredError):
        await log.since(ALICE, head - 1, 10)


async def test_a_reader_racing_concurrent_writers_never_skips_a_change(
    database_url: str, log: ChangeLog
) -> None:
    """Writers on their own connections commit in any order; a reader following `next` the
    whole time must end with every change, none skipped."""
    writers = [Database(database_url) for _ in range(4)]
    seen: list[int] = []
    done = anyio.Event()

    async def write(db: Database, n: int) -> None:
        repo = TaskRepository(db)
        for i in range(15):
            task = await repo.create(ALICE, new(f"w{n}-{i}"))
            await repo.update(ALICE, task.id, TaskUpdate(completed=True))

    async def read() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = await log.since(ALICE, cursor, 7)
            seen.extend(c.seq for c in page.changes)
            cursor = page.next
            if finished and not page.more:
                return
            await anyio.lowlevel.checkpoint()

    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as readers:
                readers.start_soon(read)
                async with anyio.create_task_group() as group:
                    for n, db in enumerate(writers):
                        group.start_soon(write, db, n)
                done.set()
    finally:
        for db in writers:
            await db.dispose()
    assert len(seen) == 4 * 15 * 2
    assert seen == sorted(seen) == list(range(seen[0], seen[0] + len(seen)))


async def test_the_logged_task_is_the_task_as_written_every_field_set(
    tasks: TaskRepository, log: ChangeLog
) -> None:
    """The trigger builds the task's JSON column by column: every field must come back as the
    repository returns it (a column the trigger misses fails here)."""
    groceries = await tasks.lists.create(ALICE, ListCreate(name="Groceries"))
    created = await tasks.create(
        ALICE,
        TaskCreate.model_validate(
            {
                "title": "Water the plants",
                "description": "the ferns — twice",
                "priority": "high",
                "due_date": "2026-12-08",
                "tags": ["home", "garden"],
                "list_id": groceries.id,
                "recurrence": "FREQ=WEEKLY",
            }
        ),
    )
    completed = await tasks.update(ALICE, created.id, TaskUpdate(completed=True))
    assert isinstance(completed, TaskResult)
    assert completed.next_task_id is not None
    successor = await tasks.get(ALICE, completed.next_task_id)
    await tasks.lists.delete(ALICE, groceries.id)  # both tasks move to the inbox
    moved = {
        task.id: task for task in [await tasks.get(ALICE, t) for t in (created.id, successor.id)]
    }

    changes = (await log.since(ALICE, 0, 100)).changes
    written = [
        ("created", created),
        ("created", successor),
        ("updated", TaskPublic.model_validate(completed.model_dump(exclude={"next_task_id"}))),
    ]
    for (op, task), change in zip(written, changes, strict=False):
        assert (change.op, change.task) == (op, task.model_dump(mode="json"))
    assert {change.task_id: change.task for change in changes[3:]} == {
        task_id: task.model_dump(mode="json") for task_id, task in moved.items()
    }
    assert len(changes) == 5


@pytest.mark.postgres_only
async def test_a_reader_never_reads_past_a_write_still_open(
    database_url: str, tasks: TaskRepository, log: ChangeLog
) -> None:
    """Numbers are taken without waiting, so a later one can commit first: the reader must not
    move its cursor past a number whose write is still open (it would skip it for good)."""
    first = await tasks.create(ALICE, new("first"))
    start = (await log.since(ALICE, 0, 10)).next
    other = Database(database_url)
    try:
        async with other.writing() as conn:
            # Takes the next number, and holds it uncommitted.
            await conn.execute(
                sa.text("UPDATE task SET title = 'open', version = version + 1 WHERE id = :id"),
                {"id": first.id},
            )
            later = await tasks.create(ALICE, new("committed while it is open"))
            held = await log.since(ALICE, start, 10)
            assert held.changes == []
            assert held.next == start
            assert held.behind is True
            assert await log.head() == start
        page = await log.since(ALICE, start, 10)
        assert [(c.op, c.task_id) for c in page.changes] == [
            ("updated", first.id),
            ("created", later.id),
        ]
        assert page.behind is False
        assert page.next == page.changes[-1].seq
    finally:
        await other.dispose()


@pytest.mark.postgres_only
async def test_a_write_notifies_after_its_commit(
    database_url: str, tasks: TaskRepository, log: ChangeLog
) -> None:
    """Every process's live feed hears of a change by `NOTIFY todo_changes, '<seq> <user>'`,
    sent by the writing process once the write has committed."""
    heard: list[str] = []
    got = anyio.Event()
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    listener = await asyncpg.connect(dsn)
    try:

        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            heard.append(payload)
            got.set()

        await listener.add_listener(CHANNEL, on_notify)
        task = await tasks.create(ALICE, new("heard"))
        with anyio.fail_after(5):
            await got.wait()
        seq = (await log.since(ALICE, 0, 10)).changes[-1].seq
        assert heard == [f"{seq} {ALICE}"]
        assert task.title == "heard"
    finally:
        await listener.close()
