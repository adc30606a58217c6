"""Prompts people reach for ("plan my day", "weekly review"), and completions for their arguments.

A prompt arrives with the tasks it is about already in it (the same readable lines as the tool
results), so the model can answer at once and calls tools only to change something.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.exceptions import PromptError
from mcp import types as mt
from pydantic import Field, TypeAdapter, ValidationError

from mcp_server import summaries
from mcp_server.dates import WEEK, Today, due_bounds, local_today
from mcp_server.errors import from_storage_error
from mcp_server.resources import today_text
from storage.errors import StorageError
from storage.models import Priority, Tag, TaskQuery
from storage.tasks import TaskRepository

_TODAY: TypeAdapter[date] = TypeAdapter(Today)
_TAG: TypeAdapter[str] = TypeAdapter(Tag)

TodayArg = Annotated[
    str | None, Field(description="Today's date as YYYY-MM-DD (default: the server's).")
]
TagArg = Annotated[str | None, Field(description="Only tasks carrying this tag.")]

_ASK_FIRST = (
    "Change nothing until I agree; then use the todo tools (complete_tasks, update_task, "
    "add_task) to do what we decided."
)


def register_prompts(
    server: FastMCP, repository: Callable[[], TaskRepository], user: Callable[[], str]
) -> None:
    """Add the prompts and the argument completions to `server`."""

    @server.prompt(
        name="plan_my_day",
        title="Plan my day",
        description="Plan today from what is due today, overdue and high priority.",
    )
    async def plan_my_day(today: TodayArg = None, tag: TagArg = None) -> str:
        on, only = _date(today), _tag(tag)
        tasks, owner = repository(), user()
        high = TaskQuery(
            status="pending", priority=Priority.high, tag=only, sort="due_date", limit=50
        )
        try:
            due = await today_text(tasks, owner, on, tag=only, dated=False)
            important = await tasks.list(owner, high)
        except StorageError as exc:
            raise PromptError(str(from_storage_error(exc))) from exc
        return "\n\n".join(
            [
                f"Help me plan my day (today is {on.isoformat()}). My tasks:",
                due,
                summaries.listing(
                    important, high, today=on, budget=summaries.BUDGET // 2, dated=False
                ),
                "Suggest what to do today and in which order (overdue and high priority "
                "first), and what can wait. " + _ASK_FIRST,
            ]
        )

    @server.prompt(
        name="weekly_review",
        title="Weekly review",
        description="Review the week: what is overdue, what is due in the next 7 days.",
    )
    async def weekly_review(today: TodayArg = None, tag: TagArg = None) -> str:
        on, only = _date(today), _tag(tag)
        tasks, owner = repository(), user()
        _, yesterday = due_bounds("overdue", on)
        overdue = TaskQuery(status="pending", tag=only, due_before=yesterday, sort="due_date")
        week = TaskQuery(
            status="pending",
            tag=only,
            due_after=on,
            due_before=on + WEEK,
            sort="due_date",
        )
        counts = [TaskQuery(status=status, tag=only, limit=1) for status in ("pending", "all")]
        try:
            late, coming = [await tasks.list(owner, query) for query in (overdue, week)]
            pending, everything = [(await tasks.list(owner, q)).total for q in counts]
        except StorageError as exc:
            raise PromptError(str(from_storage_error(exc))) from exc
        half = summaries.BUDGET // 2
        return "\n\n".join(
            [
                f"Let's do my weekly review (today is {on.isoformat()}). I have {pending} "
                f"pending and {everything - pending} done tasks.",
                summaries.listing(late, overdue, today=on, due="overdue", budget=half, dated=False),
                summaries.listing(coming, week, today=on, budget=half, dated=False),
                "Help me decide what to reschedule, what to drop and what to split into "
                "smaller tasks, and name the three that matter most this week. " + _ASK_FIRST,
            ]
        )

    @server.completion
    async def complete(
        ref: mt.PromptReference | mt.ResourceTemplateReference,
        argument: mt.CompletionArgument,
        context: mt.CompletionContext | None,
    ) -> list[str] | None:
        typed = argument.value.casefold()
        if argument.name == "tag":
            try:
                tags = await repository().tags(user())
            except StorageError:
                return None
            return [tag for tag in tags if tag.casefold().startswith(typed)]
        if argument.name == "today":
            return [day for day in (local_today().isoformat(),) if day.startswith(typed)]
        return None


def _date(value: str | None) -> date:
    if value is None or not value.strip():
        return local_today()
    try:
        return _TODAY.validate_python(value.strip())
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
        raise PromptError(f"today: {reason}.") from None


def _tag(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return _TAG.validate_python(value)
    except ValidationError:
        raise PromptError("tag: must be 1 to 32 characters.") from None
