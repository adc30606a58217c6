"""The bulk tools through an in-memory MCP client, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.types import CallToolResult, TextContent

from mcp_server.bulk import MAX_BULK
from mcp_server.identity import acting_as
from mcp_server.server import build_server
from mcp_server.settings import ServerSettings

MCPClient = Client[FastMCPTransport]


async def call(client: MCPClient, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool_mcp(tool, arguments)


async def ok(client: MCPClient, tool: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    result = await call(client, tool, **arguments)
    assert not result.is_error, _text(result)
    assert isinstance(result.structured_content, dict)
    return _text(result), result.structured_content


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def titles(client: MCPClient, **filters: Any) -> list[str]:
    _, page = await ok(client, "list_tasks", **filters)
    return [task["title"] for task in page["tasks"]]


async def test_add_tasks_adds_each_in_order_and_reports_it(client: MCPClient) -> None:
    text, report = await ok(
        client,
        "add_tasks",
        tasks=[
            {"title": "Milk"},
            {"title": "Eggs", "priority": "high", "tags": ["shop"]},
            {"title": "Bread", "due_date": "2026-12-01", "completed": True},
        ],
    )

    assert (report["added"], report["failed"]) == (3, 0)
    tasks = [outcome["task"] for outcome in report["results"]]
    assert [outcome["error"] for outcome in report["results"]] == [None] * 3
    assert [task["title"] for task in tasks] == ["Milk", "Eggs", "Bread"]
    assert tasks[1]["priority"] == "high"
    assert tasks[1]["tags"] == ["shop"]
    assert tasks[2]["completed"] is True
    assert await titles(client) == ["Milk", "Eggs", "Bread"]
    for task in tasks:
        assert f"#{task['id']}" in text
        assert task["user_id"] == "alice"


async def test_add_tasks_with_one_bad_item_adds_none_and_names_it(client: MCPClient) -> None:
    result = await call(
        client, "add_tasks", tasks=[{"title": "fine"}, {"title": ""}, {"title": "x" * 201}]
    )

    assert result.is_error
    message = _text(result)
    assert "tasks.1.title" in message
    assert "tasks.2.title" in message
    assert await titles(client) == []


@pytest.mark.parametrize("count", [0, MAX_BULK + 1])
async def test_add_tasks_takes_1_to_50_tasks(client: MCPClient, count: int) -> None:
    result = await call(client, "add_tasks", tasks=[{"title": "t"}] * count)

    assert result.is_error
    assert "tasks" in _text(result)
    assert await titles(client) == []


async def test_add_tasks_reports_the_ones_over_the_quota(database_url: str) -> None:
    server = build_server(
        ServerSettings(DATABASE_URL=database_url, TODO_USER_ID="alice", TODO_TASK_QUOTA=2)
    )
    async with Client(server) as client:
        text, report = await ok(
            client, "add_tasks", tasks=[{"title": "one"}, {"title": "two"}, {"title": "three"}]
        )

        assert (report["added"], report["failed"]) == (2, 1)
        last = report["results"][2]
        assert last["task"] is None
        assert "2 tasks" in last["error"]
        assert last["error"] in text
        assert await titles(client) == ["one", "two"]


async def test_complete_tasks_marks_each_and_reports_the_missing(client: MCPClient) -> None:
    _, added = await ok(client, "add_tasks", tasks=[{"title": "a"}, {"title": "b"}])
    ids = [outcome["task"]["id"] for outcome in added["results"]]
    with acting_as("bob"):
        _, bobs = await ok(client, "add_task", title="bob's")

    text, report = await ok(client, "complete_tasks", task_ids=[ids[0], 4242, bobs["id"], ids[1]])

    assert (report["changed"], report["failed"]) == (2, 2)
    by_id = {outcome["task_id"]: outcome for outcome in report["results"]}
    assert [outcome["task_id"] for outcome in report["results"]] == [
        ids[0],
        4242,
        bobs["id"],
        ids[1],
    ]
    assert by_id[ids[0]]["task"]["completed"] is True
    assert by_id[4242]["task"] is None
    assert by_id[4242]["error"].startswith("Task 4242 not found.")
    assert by_id[bobs["id"]]["error"].startswith(f"Task {bobs['id']} not found.")
    assert "bob's" not in text
    assert "4242" in text
    assert await titles(client, status="completed") == ["a", "b"]
    with acting_as("bob"):
        assert await titles(client, status="pending") == ["bob's"]


async def test_complete_tasks_with_false_marks_them_not_done(client: MCPClient) -> None:
    _, added = await ok(client, "add_tasks", tasks=[{"title": "a", "completed": True}])
    task_id = added["results"][0]["task"]["id"]

    _, report = await ok(client, "complete_tasks", task_ids=[task_id, task_id], completed=False)

    assert [outcome["task_id"] for outcome in report["results"]] == [task_id]
    assert report["results"][0]["task"]["completed"] is False
    assert await titles(client, status="pending") == ["a"]


@pytest.mark.parametrize("task_ids", [[], list(range(1, MAX_BULK + 2)), [0], ["one"]])
async def test_complete_tasks_rejects_bad_ids(client: MCPClient, task_ids: list[Any]) -> None:
    result = await call(client, "complete_tasks", task_ids=task_ids)

    assert result.is_error
    assert "task_ids" in _text(result)


async def test_there_is_no_bulk_delete(client: MCPClient) -> None:
    names = {tool.name for tool in await client.list_tools()}

    # One task, or one list (whose tasks are kept), at a time.
    assert {name for name in names if "delete" in name} == {"delete_task", "delete_list"}
