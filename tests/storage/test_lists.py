"""Lists of tasks in the repository, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.errors import (
    ListLimitError,
    ListNameTakenError,
    ListNotFoundError,
    ListVersionMismatchError,
    UnknownListError,
)
from storage.models import (
    MAX_LISTS,
    IdempotencyRecord,
    ListCreate,
    ListUpdate,
    TaskCreate,
    TaskQuery,
    TaskUpdate,
)
from storage.tasks import TaskRepository

ALICE = "alice"
BOB = "bob"


async def test_a_list_has_a_trimmed_name_and_counts_its_open_tasks(tasks: TaskRepository) -> None:
    made = await tasks.lists.create(ALICE, ListCreate(name="  Groceries "))
    for title, completed in (("milk", False), ("eggs", True), ("bread", False)):
        data = TaskCreate(title=title, completed=completed, list_id=made.id)
        await tasks.create(ALICE, data)
    await tasks.create(ALICE, TaskCreate(title="inbox task"))

    found = await tasks.lists.get(ALICE, made.id)

    assert made.name == "Groceries"
    assert made.open_count == 0
    assert made.version == 1
    assert found.open_count == 2
    assert [item.name for item in await tasks.lists.all(ALICE)] == ["Groceries"]


async def test_list_names_are_unique_per_user_ignoring_case(tasks: TaskRepository) -> None:
    work = await tasks.lists.create(ALICE, ListCreate(name="Work"))
    home = await tasks.lists.create(ALICE, ListCreate(name="Home"))

    with pytest.raises(ListNameTakenError):
        await tasks.lists.create(ALICE, ListCreate(name="wORK"))
    with pytest.raises(ListNameTakenError):
        await tasks.lists.update(ALICE, home.id, ListUpdate(name="WORK"))
    # Another user may use the name; a list may change the case of its own name.
    await tasks.lists.create(BOB, ListCreate(name="work"))
    renamed = await tasks.lists.update(ALICE, work.id, ListUpdate(name="WORK"))

    assert renamed.name == "WORK"
    assert renamed.version == 2
    assert [item.name for item in await tasks.lists.all(ALICE)] == ["Home", "WORK"]


async def test_renaming_to_the_same_name_changes_nothing(tasks: TaskRepository) -> None:
    made = await tasks.lists.create(ALICE, ListCreate(name="Work"))

    same = await tasks.lists.update(ALICE, made.id, ListUpdate(name="Work"))
    nothing = await tasks.lists.update(ALICE, made.id, ListUpdate())

    assert same == made
    assert nothing == made


async def test_a_user_has_at_most_the_list_limit(tasks: TaskRepository) -> None:
    for n in range(MAX_LISTS):
        await tasks.lists.create(ALICE, ListCreate(name=f"list {n}"))

    with pytest.raises(ListLimitError):
        await tasks.lists.create(ALICE, ListCreate(name="one too many"))
    await tasks.lists.create(BOB, ListCreate(name="bob's first"))
    first = (await tasks.lists.all(ALICE))[0]
    await tasks.lists.delete(ALICE, first.id)
    await tasks.lists.create(ALICE, ListCreate(name="room again"))

    assert len(await tasks.lists.all(ALICE)) == MAX_LISTS


async def test_concurrent_creates_stay_within_the_list_limit(db: Database) -> None:
    tasks = TaskRepository(db)
    for n in range(MAX_LISTS - 2):
        await tasks.lists.create(ALICE, ListCreate(name=f"list {n}"))
    outcomes: list[str] = []

    async def attempt(n: int) -> None:
        try:
            await tasks.lists.create(ALICE, ListCreate(name=f"racing {n}"))
        except ListLimitError:
            outcomes.append("refused")
        else:
            outcomes.append("created")

    async with anyio.create_task_group() as group:
        for n in range(5):
            group.start_soon(attempt, n)

    assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 3
    assert len(await tasks.lists.all(ALICE)) == MAX_LISTS


async def test_another_users_list_is_not_found(tasks: TaskRepository) -> None:
    bobs = await tasks.lists.create(BOB, ListCreate(name="Bob's"))

    with pytest.raises(ListNotFoundError):
        await tasks.lists.get(ALICE, bobs.id)
    with pytest.raises(ListNotFoundError):
        await tasks.lists.update(ALICE, bobs.id, ListUpdate(name="mine"))
    with pytest.raises(ListNotFoundError):
        await tasks.lists.delete(ALICE, bobs.id)
    with pytest.raises(ListNotFoundError):
        await tasks.lists.get(ALICE, 2**40)
    assert await tasks.lists.all(ALICE) == []


async def test_a_task_can_go_only_into_the_users_own_list(tasks: TaskRepository) -> None:
    bobs = await tasks.lists.create(BOB, ListCreate(name="Bob's"))
    mine = await tasks.create(ALICE, TaskCreate(title="mine"))

    with pytest.raises(UnknownListError):
        await tasks.create(ALICE, TaskCreate(title="into bob's", list_id=bobs.id))
    with pytest.raises(UnknownListError):
        await tasks.create(ALICE, TaskCreate(title="nowhere", list_id=999))
    with pytest.raises(UnknownListError):
        await tasks.update(ALICE, mine.id, TaskUpdate(list_id=bobs.id))
    with pytest.raises(UnknownListError):
        await tasks.create(ALICE, TaskCreate(title="keyed", list_id=999), idempotency_key="k-1")

    assert [t.title for t in (await tasks.list(ALICE, TaskQuery())).tasks] == ["mine"]
    assert (await tasks.get(ALICE, mine.id)).list_id is None


async def test_tasks_filter_by_list_or_inbox(tasks: TaskRepository) -> None:
    work = await tasks.lists.create(ALICE, ListCreate(name="Work"))
    home = await tasks.lists.create(ALICE, ListCreate(name="Home"))
    await tasks.create(ALICE, TaskCreate(title="report", list_id=work.id))
    await tasks.create(ALICE, TaskCreate(title="dishes", list_id=home.id))
    loose = await tasks.create(ALICE, TaskCreate(title="loose"))
    moved = await tasks.update(ALICE, loose.id, TaskUpdate(list_id=work.id))

    def titles(page: object) -> list[str]:
        return [t.title for t in page.tasks]  # type: ignore[attr-defined]

    assert moved.list_id == work.id
    assert moved.version == 2
    assert titles(await tasks.list(ALICE, TaskQuery(list_id=work.id))) == ["report", "loose"]
    assert titles(await tasks.list(ALICE, TaskQuery(list_id=home.id))) == ["dishes"]
    back = await tasks.update(ALICE, loose.id, TaskUpdate(list_id=None))
    assert back.list_id is None
    assert titles(await tasks.list(ALICE, TaskQuery(list_id="none"))) == ["loose"]


async def test_deleting_a_list_moves_its_tasks_to_the_inbox(tasks: TaskRepository) -> None:
    work = await tasks.lists.create(ALICE, ListCreate(name="Work"))
    kept = await tasks.lists.create(ALICE, ListCreate(name="Kept"))
    inside = [
        await tasks.create(ALICE, TaskCreate(title=f"work {n}", list_id=work.id)) for n in range(3)
    ]
    other = await tasks.create(ALICE, TaskCreate(title="kept", list_id=kept.id))

    gone = await tasks.lists.delete(ALICE, work.id)

    assert gone.id == work.id
    assert gone.open_count == 3
    page = await tasks.list(ALICE, TaskQuery(list_id="none"))
    assert [t.id for t in page.tasks] == [t.id for t in inside]
    # Moved, they changed: a client holding their old ETag must not overwrite them.
    assert all(t.version == 2 for t in page.tasks)
    assert (await tasks.get(ALICE, other.id)).list_id == kept.id
    with pytest.raises(ListNotFoundError):
        await tasks.lists.get(ALICE, work.id)
    # The name is free again, and a deleted list's id stays unknown to tasks.
    await tasks.lists.create(ALICE, ListCreate(name="work"))
    with pytest.raises(UnknownListError):
        await tasks.create(ALICE, TaskCreate(title="late", list_id=work.id))


async def test_list_writes_with_a_stale_version_change_nothing(tasks: TaskRepository) -> None:
    made = await tasks.lists.create(ALICE, ListCreate(name="Work"))
    task = await tasks.create(ALICE, TaskCreate(title="stays", list_id=made.id))

    with pytest.raises(ListVersionMismatchError):
        await tasks.lists.update(ALICE, made.id, ListUpdate(name="x"), expected_version=2)
    with pytest.raises(ListVersionMismatchError):
        await tasks.lists.delete(ALICE, made.id, expected_version=2)

    assert await tasks.lists.get(ALICE, made.id) == made.model_copy(update={"open_count": 1})
    assert (await tasks.get(ALICE, task.id)).list_id == made.id


async def test_an_idempotency_key_recorded_before_lists_existed_still_replays(
    db: Database, tasks: TaskRepository
) -> None:
    # A create answered by the previous version: its request and answer had no list_id,
    # recurrence or completed_at.
    old_request: dict[str, Any] = {
        "title": "Pay rent",
        "description": None,
        "priority": "medium",
        "due_date": None,
        "tags": [],
        "completed": False,
    }
    old_hash = hashlib.sha256(
        json.dumps(old_request, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    now = datetime.now(UTC)
    old_answer = {
        "id": 41,
        "user_id": ALICE,
        **old_request,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "version": 1,
    }
    async with db.writing() as conn:
        await conn.execute(
            sa.insert(IdempotencyRecord.__table__).values(  # type: ignore[attr-defined]
                user_id=ALICE,
                key="k-old",
                request_hash=old_hash,
                response=old_answer,
                created_at=now,
            )
        )

    replayed = await tasks.create(ALICE, TaskCreate(title="Pay rent"), idempotency_key="k-old")

    assert replayed.id == 41
    assert (replayed.list_id, replayed.recurrence, replayed.completed_at) == (None, None, None)
