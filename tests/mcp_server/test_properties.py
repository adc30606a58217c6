"""Property-based: whatever arguments a client passes to the six tools, the answer is a result or
a tool error that says what is wrong (never "internal", never "try again" for bad input); and
the user's tasks, listed by the tools and read straight from storage, are exactly what the
results said they are.

On SQLite and PostgreSQL, on the budget of `tests.support.hostile` (a fresh user per example).
"""

from __future__ import annotations

import itertools
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from hypothesis import event, given
from hypothesis import strategies as st
from mcp.types import CallToolResult, TextContent

from mcp_server.identity import acting_as
from storage.database import Database
from storage.models import TaskQuery
from storage.tasks import TaskRepository
from tests.support.hostile import (
    PROPERTY_SETTINGS,
    integers,
    json_values,
    task_fields,
    texts,
    valid_task_fields,
)

MCPClient = Client[FastMCPTransport]
TOOLS = ["add_task", "list_tasks", "get_task", "update_task", "complete_task", "delete_task"]
ARGUMENTS = ["task_id", "expected_version", "idempotency_key", "status", "query", "priority"]
ARGUMENTS += ["tag", "due_before", "due_after", "sort", "limit", "offset", "user_id"]
# What a tool error may never say about bad input.
NOT_FOR_BAD_INPUT = ("failed to do this", "unavailable", "try again", "traceback", "internal")
_users = itertools.count()

argument_values = st.one_of(json_values, integers, texts)
# Which task, if any, a call names: an index into those made so far.
which = st.integers(min_value=0, max_value=3)
anything = st.tuples(
    st.sampled_from(TOOLS),
    st.one_of(
        task_fields(ARGUMENTS),
        st.dictionaries(st.sampled_from(ARGUMENTS), argument_values, max_size=4),
    ),
    st.one_of(st.none(), which),
)
# Well-formed calls on a task of the user's, some with a version guard of any number.
versions = st.fixed_dictionaries({}, optional={"expected_version": integers})
on_a_task: st.SearchStrategy[tuple[str, dict[str, Any], int]] = st.one_of(
    st.tuples(st.sampled_from(["get_task", "complete_task"]), st.just({}), which),
    st.tuples(st.just("delete_task"), versions, which),
    st.tuples(
        st.just("update_task"),
        st.tuples(valid_task_fields, versions).map(lambda p: {**p[0], **p[1]}),
        which,
    ),
)
calls = st.lists(st.one_of(anything, on_a_task), min_size=1, max_size=6)


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


@given(first=st.lists(valid_task_fields, min_size=1, max_size=2), steps=calls)
@PROPERTY_SETTINGS
async def test_any_arguments_get_a_result_or_a_clear_tool_error_and_storage_agrees(
    client: MCPClient,
    database_url: str,
    first: list[dict[str, Any]],
    steps: list[tuple[str, dict[str, Any], int | None]],
) -> None:
    user = f"prop-{next(_users)}"
    said: dict[int, dict[str, Any]] = {}  # what the results say the user's tasks are
    made: list[int] = []

    with acting_as(user):
        for fields in first:
            added = await client.call_tool_mcp("add_task", fields)
            assert not added.is_error, _text(added)
            assert isinstance(added.structured_content, dict)
            said[added.structured_content["id"]] = added.structured_content
            made.append(added.structured_content["id"])
        for tool, arguments, which in steps:
            if which is not None and tool not in ("add_task", "list_tasks"):
                arguments = {**arguments, "task_id": made[which % len(made)]}
            result = await client.call_tool_mcp(tool, arguments)
            event(f"{tool} {'error' if result.is_error else 'ok'}")
            if result.is_error:
                text = _text(result)
                assert text, arguments
                assert not any(bad in text.lower() for bad in NOT_FOR_BAD_INPUT), text
                continue
            content = result.structured_content
            assert isinstance(content, dict)
            if tool == "list_tasks":
                assert all(task == said[task["id"]] for task in content["tasks"])
            elif tool == "get_task":
                assert content == said[content["id"]]
            elif tool == "delete_task":
                assert said.pop(content["id"]) == content
            else:
                said[content["id"]] = content
                if tool == "add_task":
                    made.append(content["id"])

        listed = await client.call_tool_mcp("list_tasks", {"limit": 500})
    assert listed.structured_content is not None
    assert {task["id"]: task for task in listed.structured_content["tasks"]} == said
    db = Database(database_url)
    try:
        stored = await TaskRepository(db).list(user, TaskQuery(limit=500))
    finally:
        await db.dispose()
    assert {task.id: task.model_dump(mode="json") for task in stored.tasks} == said
