"""The list tools: the user's lists (projects) of tasks. A task goes into a list through
add_task/update_task's `list_id`; these tools make, find, rename and delete the lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from mcp_server.results import Described
from mcp_server.summaries import one_line
from mcp_server.tools import (
    ADDITIVE,
    DESTRUCTIVE,
    IDEMPOTENT,
    READ_ONLY,
    ExpectedVersion,
    tool_adder,
)
from storage.models import ListCreate, ListName, ListPage, ListPublic, ListUpdate
from storage.tasks import TaskRepository

ListIdArg = Annotated[int, Field(ge=1, description="The list's id, from list_lists.")]
NameArg = Annotated[ListName, Field(description="1-100 characters, unique ignoring case.")]

ADD_LIST = """\
Make a new list (a project, e.g. "Groceries") and return it with its id.
Check list_lists first: a name already taken (ignoring case) fails."""
LIST_LISTS = """\
All the user's lists (id, name, open tasks). Use it to find a list's id by its name
for add_task, update_task or list_tasks."""
UPDATE_LIST = """\
Rename one of the user's lists and return it as it now is."""
DELETE_LIST = """\
Delete a list and return it as it was; its tasks are kept and move to no list.
Only when the user asks to delete the list."""


def _line(item: ListPublic) -> str:
    return f"#{item.id} {one_line(item.name)} ({item.open_count} open)"


def register_list_tools(
    server: FastMCP, repository: Callable[[], TaskRepository], user: Callable[[], str]
) -> None:
    """Add the list tools to `server`. `repository` and `user` are looked up on every call."""
    tool = tool_adder(server)

    @tool(ADD_LIST, ADDITIVE)
    async def add_list(name: NameArg) -> Described[ListPublic]:
        made = await repository().lists.create(user(), ListCreate(name=name))
        return Described(made, lambda: f"Added list {_line(made)}.")

    @tool(LIST_LISTS, READ_ONLY)
    async def list_lists() -> Described[ListPage]:
        page = ListPage(lists=await repository().lists.all(user()))
        return Described(
            page,
            lambda: "\n".join(["Lists:", *map(_line, page.lists)]) if page.lists else "No lists.",
        )

    @tool(UPDATE_LIST, IDEMPOTENT)
    async def update_list(
        list_id: ListIdArg, name: NameArg, expected_version: ExpectedVersion = None
    ) -> Described[ListPublic]:
        changed = await repository().lists.update(
            user(), list_id, ListUpdate(name=name), expected_version=expected_version
        )
        return Described(changed, lambda: f"Renamed list {_line(changed)}.")

    @tool(DELETE_LIST, DESTRUCTIVE)
    async def delete_list(
        list_id: ListIdArg, expected_version: ExpectedVersion = None
    ) -> Described[ListPublic]:
        gone = await repository().lists.delete(user(), list_id, expected_version=expected_version)
        return Described(gone, lambda: f"Deleted list {_line(gone)}; its tasks are in no list now.")
