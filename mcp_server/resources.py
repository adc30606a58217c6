"""Resources a user can attach to a conversation: their pending tasks, today's tasks, one task.

Each reads as the tool results do (`mcp_server.summaries`): short lines a person or a model
reads at a glance, within the same budget.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError

from mcp_server import summaries
from mcp_server.dates import DueFilter, due_bounds, local_today
from mcp_server.errors import from_storage_error
from storage.errors import StorageError
from storage.models import MAX_ID, TaskQuery
from storage.tasks import TaskRepository

TEXT = "text/plain"


def register_resources(
    server: FastMCP, repository: Callable[[], TaskRepository], user: Callable[[], str]
) -> None:
    """Add the task resources to `server`. `repository` and `user` are looked up on every read."""

    @server.resource(
        "tasks://pending",
        name="pending_tasks",
        title="Pending tasks",
        description="The tasks not done yet, soonest due first.",
        mime_type=TEXT,
    )
    async def pending_tasks() -> str:
        query = TaskQuery(status="pending", sort="due_date", limit=200)
        try:
            page = await repository().list(user(), query)
        except StorageError as exc:
            raise _unreadable(exc) from exc
        return summaries.listing(page, query, today=local_today())

    @server.resource(
        "tasks://today",
        name="todays_tasks",
        title="Today's tasks",
        description="The tasks due today and the overdue ones (by the server's date).",
        mime_type=TEXT,
    )
    async def todays_tasks() -> str:
        return await today_text(repository(), user(), local_today())

    @server.resource(
        "tasks://{task_id}",
        name="task",
        title="A task",
        description="One task by its id, with its description.",
        mime_type=TEXT,
    )
    async def task(task_id: int) -> str:
        if not 1 <= task_id <= MAX_ID:
            raise ResourceError(f"Task {task_id} not found.")
        try:
            return summaries.task_detail(await repository().get(user(), task_id))
        except StorageError as exc:
            raise _unreadable(exc) from exc


async def today_text(
    tasks: TaskRepository, user_id: str, today: date, tag: str | None = None, dated: bool = True
) -> str:
    """What is due today, then what is overdue: half the budget each."""
    sections = []
    due: DueFilter
    for due in ("today", "overdue"):
        due_after, due_before = due_bounds(due, today)
        query = TaskQuery(
            status="pending" if due == "overdue" else "all",
            tag=tag,
            due_after=due_after,
            due_before=due_before,
            sort="due_date" if due == "overdue" else "-priority",
            limit=100,
        )
        try:
            page = await tasks.list(user_id, query)
        except StorageError as exc:
            raise _unreadable(exc) from exc
        text = summaries.listing(
            page, query, today=today, due=due, budget=summaries.BUDGET // 2, dated=dated
        )
        sections.append(text)
        dated = False  # said once is enough
    return "\n\n".join(sections)


def _unreadable(exc: StorageError) -> ResourceError:
    return ResourceError(str(from_storage_error(exc)))
