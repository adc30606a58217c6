"""The task resources a user attaches, through an in-memory MCP client on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.shared.exceptions import MCPError
from mcp.types import TextContent, TextResourceContents

from mcp_server.identity import acting_as

MCPClient = Client[FastMCPTransport]
TASK_LINE = re.compile(r"^#(\d+) (.*?)(?: — |$)", re.MULTILINE)


async def add(client: MCPClient, *tasks: dict[str, Any]) -> list[dict[str, Any]]:
    result = await client.call_tool_mcp("add_tasks", {"tasks": list(tasks)})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return [outcome["task"] for outcome in result.structured_content["results"]]


async def read(client: MCPClient, uri: str) -> str:
    [contents] = await client.read_resource(uri)
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "text/plain"
    return contents.text


def titles(text: str) -> list[str]:
    return [title for _, title in TASK_LINE.findall(text)]


async def test_the_resources_are_listed_with_titles(client: MCPClient) -> None:
    resources = {str(resource.uri): resource for resource in await client.list_resources()}
    templates = {t.uri_template: t for t in await client.list_resource_templates()}

    assert set(resources) == {"tasks://pending", "tasks://today"}
    assert set(templates) == {"tasks://{task_id}"}
    for resource in resources.values():
        assert resource.title
        assert resource.description
    assert templates["tasks://{task_id}"].title
    assert templates["tasks://{task_id}"].description


async def test_pending_lists_the_tasks_not_done_soonest_due_first(client: MCPClient) -> None:
    await add(
        client,
        {"title": "later", "due_date": "2026-05-01"},
        {"title": "done", "completed": True},
        {"title": "sooner", "due_date": "2026-04-01"},
        {"title": "whenever"},
    )
    with acting_as("bob"):
        await add(client, {"title": "bob's"})

    text = await read(client, "tasks://pending")

    assert titles(text) == ["sooner", "later", "whenever"]


async def test_today_has_what_is_due_today_and_what_is_overdue(client: MCPClient) -> None:
    today = date.today()
    await add(
        client,
        {"title": "due today", "due_date": today.isoformat()},
        {"title": "overdue", "due_date": (today - timedelta(days=2)).isoformat()},
        {
            "title": "overdue, done",
            "due_date": (today - timedelta(days=2)).isoformat(),
            "completed": True,
        },
        {"title": "tomorrow", "due_date": (today + timedelta(days=1)).isoformat()},
    )

    text = await read(client, "tasks://today")

    # The server's date may turn between the adds and the read: only then is this other.
    if date.today() == today:
        assert titles(text) == ["due today", "overdue"]
        assert today.isoformat() in text


async def test_one_task_reads_with_its_description(client: MCPClient) -> None:
    [task] = await add(client, {"title": "Pay rent", "description": "before the 5th"})

    text = await read(client, f"tasks://{task['id']}")

    assert f"#{task['id']} Pay rent" in text
    assert "before the 5th" in text


@pytest.mark.parametrize("task_id", ["4242", "0", "99999999999"])
async def test_a_missing_task_is_an_error_naming_it(client: MCPClient, task_id: str) -> None:
    with pytest.raises(MCPError, match=f"Task {task_id} not found"):
        await client.read_resource(f"tasks://{task_id}")


async def test_another_users_task_cannot_be_read(client: MCPClient) -> None:
    with acting_as("bob"):
        [task] = await add(client, {"title": "bob's secret"})

    with pytest.raises(MCPError, match="not found") as raised:
        await client.read_resource(f"tasks://{task['id']}")
    assert "secret" not in str(raised.value)


async def test_a_resource_reads_like_the_tool_result(client: MCPClient) -> None:
    await add(client, {"title": "a", "tags": ["x"]}, {"title": "b", "priority": "high"})

    result = await client.call_tool_mcp("list_tasks", {"status": "pending", "sort": "due_date"})
    [block] = result.content
    assert isinstance(block, TextContent)

    assert await read(client, "tasks://pending") == block.text
