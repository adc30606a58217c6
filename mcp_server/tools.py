"""The task tools, one at a time. Each is a short function over the task repository that
returns its result and a readable text of it (`mcp_server.summaries`); the descriptions below
(tool and argument) are what the model reads, so they say when to use a tool and what it gives
back. The bulk forms are in `mcp_server.bulk`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastmcp import FastMCP
from fastmcp.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import MISSING, Field, StrictBool

from mcp_server import summaries
from mcp_server.dates import DueFilter, Today, due_bounds, local_today
from mcp_server.errors import TaskToolError, reports_storage_errors
from mcp_server.results import Described, returns_tool_result
from mcp_server.schemas import self_contained
from storage.models import (
    MAX_ID,
    Description,
    DueDate,
    IdempotencyKeyText,
    ListId,
    Priority,
    Recurrence,
    SearchText,
    SortKey,
    StatusFilter,
    Tag,
    Tags,
    TaskCreate,
    TaskPage,
    TaskPublic,
    TaskQuery,
    TaskResult,
    TaskUpdate,
    Title,
    as_result,
)
from storage.tasks import TaskRepository

_F = TypeVar("_F", bound=Callable[..., Awaitable[Described[Any]]])

# No upper bound: an id past what the column holds is "not found", like any unknown id.
TaskId = Annotated[int, Field(ge=1, description="The task's id, as returned by list_tasks.")]
TitleArg = Annotated[Title, Field(description="Short title, 1-200 characters.")]
DescriptionArg = Annotated[
    Description | None, Field(description="Longer notes, up to 1000 characters.")
]
PriorityArg = Annotated[Priority, Field(description="low, medium or high.")]
DueDateArg = Annotated[DueDate | None, Field(description="Due date as YYYY-MM-DD.")]
TagsArg = Annotated[
    Tags, Field(description="Up to 10 labels of 1-32 characters; duplicates are dropped.")
]
ListIdArg = Annotated[
    ListId | None, Field(description="Id of one of the user's lists (list_lists); null: inbox.")
]
RecurrenceArg = Annotated[
    Recurrence | None,
    Field(
        description="Repeat as an RRULE of FREQ, INTERVAL, BYDAY, BYMONTHDAY, COUNT, UNTIL, "
        "e.g. FREQ=WEEKLY;BYDAY=MO; needs due_date."
    ),
]
CompletedArg = Annotated[
    StrictBool, Field(description="true marks the task done; false marks it not done.")
]
ExpectedVersion = Annotated[
    int | None,
    Field(
        ge=1,
        description="Act only if still at this version (its `version`); else fail, "
        "changing nothing.",
    ),
]
IdempotencyKey = Annotated[
    IdempotencyKeyText | None,
    Field(
        description="Optional key that makes retries safe: repeating the call with the same "
        "key and arguments within 24 hours returns the first task instead of adding another."
    ),
]

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)
ADDITIVE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
IDEMPOTENT = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
DESTRUCTIVE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
)


# What the model reads about each tool. Kept out of docstrings: fastmcp parses those with a
# docstring parser whose import alone slows every stdio start.
ADD_TASK = """\
Add a new task to the user's list and return it, including its id.

Use this when the user wants to remember, plan or do something ("remind me to ...",
"I need to ..."). Only `title` is required; fill in the other fields the user mentions.
For several tasks, add_tasks takes them in one call. A repeating task ("every Monday")
is one task with a recurrence: completing it adds the next occurrence."""
LIST_TASKS = """\
List the user's tasks, with optional filters, and the total number that match.

Use it to answer questions about the list ("what's overdue?") and to find a task's id
before acting on it: when the user names a task by its title, search with
query=<a word from the title>. If several match, ask which one they mean.
The result states today's date."""
GET_TASK = """\
Get one task by its id, with all its fields."""
UPDATE_TASK = """\
Change some fields of a task and return it as it now is.

Give only the fields to change; the others stay as they are. null clears
description, due_date, list_id or recurrence. tags replaces the whole list. To mark a task done
or not done, complete_task is simpler. Find the id with list_tasks first."""
COMPLETE_TASK = """\
Mark a task as done (or, with completed=false, as not done again) and return it.
Done, a recurring task gets its next occurrence (next_task_id).
For several tasks, use complete_tasks."""
DELETE_TASK = """\
Delete a task for good and return it as it was.

Only when the user asks to delete or remove a task; to finish one, use complete_task.
Find the id with list_tasks first, and delete only the task the user meant."""


def tool_adder(server: FastMCP) -> Callable[[str, ToolAnnotations], Callable[[_F], _F]]:
    """A decorator that adds a tool returning `Described[Model]` to `server`, with the model's
    output schema, storage errors reported as tool errors, and every schema inlined."""

    def tool(description: str, annotations: ToolAnnotations) -> Callable[[_F], _F]:
        def add(function: _F) -> _F:
            made = Tool.from_function(
                returns_tool_result(reports_storage_errors(function)),
                description=description,
                annotations=annotations,
            )
            server.add_tool(self_contained(made))
            return function

        return add

    return tool


def register_tools(
    server: FastMCP, repository: Callable[[], TaskRepository], user: Callable[[], str]
) -> None:
    """Add the task tools to `server`. `repository` and `user` are looked up on every call."""
    tool = tool_adder(server)

    @tool(ADD_TASK, ADDITIVE)
    async def add_task(
        title: TitleArg,
        description: DescriptionArg = None,
        priority: PriorityArg = Priority.medium,
        due_date: DueDateArg = None,
        tags: TagsArg = Field(default_factory=list),  # noqa: B008 (pydantic reads it)
        completed: Annotated[StrictBool, Field(description="true if it is already done.")] = False,
        list_id: ListIdArg = None,
        recurrence: RecurrenceArg = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Described[TaskPublic]:
        data = TaskCreate(
            title=title,
            description=description,
            priority=priority,
            due_date=due_date,
            tags=tags,
            completed=completed,
            list_id=list_id,
            recurrence=recurrence,
        )
        task = await repository().create(user(), data, idempotency_key=idempotency_key)
        return Described(task, lambda: summaries.added(task))

    @tool(LIST_TASKS, READ_ONLY)
    async def list_tasks(
        status: Annotated[
            StatusFilter, Field(description="all, pending (not done) or completed.")
        ] = "all",
        query: Annotated[
            SearchText,
            Field(description="Case-insensitive text to find in the title or description."),
        ] = None,
        priority: Annotated[Priority | None, Field(description="Only this priority.")] = None,
        tag: Annotated[Tag | None, Field(description="Only tasks carrying this tag.")] = None,
        due_before: Annotated[
            DueDate | None, Field(description="Due on or before this date (YYYY-MM-DD).")
        ] = None,
        due_after: Annotated[
            DueDate | None, Field(description="Due on or after this date (YYYY-MM-DD).")
        ] = None,
        list_id: Annotated[
            ListId | Literal["none"] | None,
            Field(description="Only this list's tasks; none: those in no list."),
        ] = None,
        sort: Annotated[
            SortKey,
            Field(description="Order by this field; a leading '-' reverses it."),
        ] = "created_at",
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many tasks.")] = 100,
        offset: Annotated[
            int, Field(ge=0, le=MAX_ID, description="Skip this many tasks first.")
        ] = 0,
        due: Annotated[
            DueFilter | None,
            Field(description="overdue: pending tasks due before today; today: due today."),
        ] = None,
        today: Annotated[
            Today | None,
            Field(description="The user's date (YYYY-MM-DD) for due; default: the server's."),
        ] = None,
    ) -> Described[TaskPage]:
        on = today or local_today()
        if due is not None:
            if due_before is not None or due_after is not None:
                raise TaskToolError(
                    "invalid_arguments", "Give either due or due_before/due_after, not both."
                )
            if due == "overdue":
                if status == "completed":
                    raise TaskToolError(
                        "invalid_arguments",
                        "due=overdue lists tasks that are not done: leave status out.",
                    )
                status = "pending"
            due_after, due_before = due_bounds(due, on)
        filters = TaskQuery(
            status=status,
            query=query,
            priority=priority,
            tag=tag,
            due_before=due_before,
            due_after=due_after,
            list_id=list_id,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        page = await repository().list(user(), filters)
        return Described(page, lambda: summaries.listing(page, filters, today=on, due=due))

    @tool(GET_TASK, READ_ONLY)
    async def get_task(task_id: TaskId) -> Described[TaskPublic]:
        task = await repository().get(user(), task_id)
        return Described(task, lambda: summaries.task_detail(task))

    @tool(UPDATE_TASK, IDEMPOTENT)
    async def update_task(
        task_id: TaskId,
        title: TitleArg | MISSING = MISSING,
        description: DescriptionArg | MISSING = MISSING,
        priority: PriorityArg | MISSING = MISSING,
        due_date: DueDateArg | MISSING = MISSING,
        tags: TagsArg | MISSING = MISSING,
        completed: CompletedArg | MISSING = MISSING,
        list_id: ListIdArg | MISSING = MISSING,
        recurrence: RecurrenceArg | MISSING = MISSING,
        expected_version: ExpectedVersion = None,
    ) -> Described[TaskResult]:
        given = {
            "title": title,
            "description": description,
            "priority": priority,
            "due_date": due_date,
            "tags": tags,
            "completed": completed,
            "list_id": list_id,
            "recurrence": recurrence,
        }
        changes = TaskUpdate(**{k: v for k, v in given.items() if v is not MISSING})
        task = as_result(
            await repository().update(user(), task_id, changes, expected_version=expected_version)
        )
        return Described(task, lambda: summaries.updated(task) + summaries.successor(task))

    @tool(COMPLETE_TASK, IDEMPOTENT)
    async def complete_task(
        task_id: TaskId,
        completed: CompletedArg = True,
    ) -> Described[TaskResult]:
        task = as_result(
            await repository().update(user(), task_id, TaskUpdate(completed=completed))
        )
        return Described(task, lambda: summaries.completed(task) + summaries.successor(task))

    @tool(DELETE_TASK, DESTRUCTIVE)
    async def delete_task(
        task_id: TaskId, expected_version: ExpectedVersion = None
    ) -> Described[TaskPublic]:
        task = await repository().delete(user(), task_id, expected_version=expected_version)
        return Described(task, lambda: summaries.deleted(task))
