"""The bulk tools: "add these five", "mark all of these done" in one call instead of one each.

Each item is done on its own and its outcome reported (the task, or the error a single call
would have given), so one missing id does not undo the others. There is no bulk delete: deleting
several tasks is something the user confirms one by one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

from fastmcp import FastMCP
from pydantic import AfterValidator, BaseModel, Field

from mcp_server import summaries
from mcp_server.errors import from_storage_error
from mcp_server.results import Described
from mcp_server.tools import ADDITIVE, IDEMPOTENT, CompletedArg, TaskId, tool_adder
from storage.errors import StorageError
from storage.models import TaskCreate, TaskPublic, TaskResult, TaskUpdate, as_result
from storage.tasks import TaskRepository

MAX_BULK = 50

ADD_TASKS = f"""\
Add several tasks at once (at most {MAX_BULK}) and report each one's outcome.

Use it when the user lists several things to add; each item takes add_task's fields."""
COMPLETE_TASKS = f"""\
Mark several tasks done (or, with completed=false, not done) at once, at most {MAX_BULK},
and report each one's outcome. Find the ids with list_tasks first."""


class AddOutcome(BaseModel):
    task: TaskPublic | None = Field(description="The added task; null if it failed.")
    error: str | None = Field(description="Why it was not added; null if it was.")


class AddedTasks(BaseModel):
    added: int
    failed: int
    results: list[AddOutcome] = Field(description="One per item, in order.")


class CompleteOutcome(BaseModel):
    task_id: int
    task: TaskResult | None = Field(description="The task as it now is; null if it failed.")
    error: str | None = Field(description="Why it was not changed; null if it was.")


class CompletedTasks(BaseModel):
    changed: int
    failed: int
    results: list[CompleteOutcome] = Field(description="One per id, in order.")


def _unique(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


NewTasks = Annotated[
    list[TaskCreate],
    Field(min_length=1, max_length=MAX_BULK, description="The tasks, as add_task takes them."),
]
TaskIds = Annotated[
    list[TaskId],
    Field(min_length=1, max_length=MAX_BULK, description="Ids from list_tasks."),
    AfterValidator(_unique),
]


def register_bulk_tools(
    server: FastMCP, repository: Callable[[], TaskRepository], user: Callable[[], str]
) -> None:
    """Add the bulk tools to `server`. `repository` and `user` are looked up on every call."""
    tool = tool_adder(server)

    @tool(ADD_TASKS, ADDITIVE)
    async def add_tasks(tasks: NewTasks) -> Described[AddedTasks]:
        store, owner = repository(), user()
        results = []
        for data in tasks:
            try:
                results.append(AddOutcome(task=await store.create(owner, data), error=None))
            except StorageError as exc:
                results.append(AddOutcome(task=None, error=str(from_storage_error(exc))))
        added = sum(outcome.task is not None for outcome in results)
        report = AddedTasks(added=added, failed=len(results) - added, results=results)
        text = functools.partial(
            summaries.outcomes,
            f"Added {added} of {len(results)} tasks.",
            done=(summaries.task_line(o.task) for o in results if o.task is not None),
            failed=(
                f"Item {number} ({summaries.one_line(data.title)}) not added: {o.error}"
                for number, (data, o) in enumerate(zip(tasks, results, strict=True), start=1)
                if o.error is not None
            ),
        )
        return Described(report, text)

    @tool(COMPLETE_TASKS, IDEMPOTENT)
    async def complete_tasks(
        task_ids: TaskIds, completed: CompletedArg = True
    ) -> Described[CompletedTasks]:
        store, owner, change = repository(), user(), TaskUpdate(completed=completed)
        results = []
        for task_id in task_ids:
            try:
                task = as_result(await store.update(owner, task_id, change))
                results.append(CompleteOutcome(task_id=task_id, task=task, error=None))
            except StorageError as exc:
                error = str(from_storage_error(exc))
                results.append(CompleteOutcome(task_id=task_id, task=None, error=error))
        changed = sum(outcome.task is not None for outcome in results)
        report = CompletedTasks(changed=changed, failed=len(results) - changed, results=results)
        state = "done" if completed else "not done"
        text = functools.partial(
            summaries.outcomes,
            f"Marked {changed} of {len(results)} tasks {state}.",
            done=(
                summaries.task_line(o.task) + summaries.successor(o.task)
                for o in results
                if o.task is not None
            ),
            failed=(f"#{o.task_id} not changed: {o.error}" for o in results if o.error is not None),
        )
        return Described(report, text)
