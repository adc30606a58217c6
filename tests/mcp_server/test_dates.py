"""`list_tasks(due="overdue"|"today", today=...)` and date ranges, through an in-memory MCP client
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.types import CallToolResult, TextContent

MCPClient = Client[FastMCPTransport]
TODAY = date(2026, 3, 10)


async def call(client: MCPClient, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool_mcp(tool, arguments)


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def listed(client: MCPClient, **arguments: Any) -> tuple[list[str], str]:
    result = await call(client, "list_tasks", **arguments)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return [task["title"] for task in result.structured_content["tasks"]], _text(result)


async def seed(client: MCPClient, today: date) -> None:
    day = timedelta(days=1)
    tasks: list[dict[str, Any]] = [
        {"title": "late", "due_date": (today - 3 * day).isoformat()},
        {"title": "late but done", "due_date": (today - day).isoformat(), "completed": True},
        {"title": "yesterday", "due_date": (today - day).isoformat()},
        {"title": "today", "due_date": today.isoformat()},
        {"title": "today, done", "due_date": today.isoformat(), "completed": True},
        {"title": "tomorrow", "due_date": (today + day).isoformat()},
        {"title": "no date"},
    ]
    result = await call(client, "add_tasks", tasks=tasks)
    assert not result.is_error, _text(result)


async def test_overdue_is_pending_tasks_due_before_the_given_today(client: MCPClient) -> None:
    await seed(client, TODAY)

    titles, text = await listed(client, due="overdue", today=TODAY.isoformat(), sort="due_date")

    assert titles == ["late", "yesterday"]
    assert TODAY.isoformat() in text
    assert "overdue" in text.splitlines()[0]


async def test_due_today_is_every_task_due_on_the_given_today(client: MCPClient) -> None:
    await seed(client, TODAY)

    assert (await listed(client, due="today", today=TODAY.isoformat()))[0] == [
        "today",
        "today, done",
    ]
    assert (await listed(client, due="today", today=TODAY.isoformat(), status="pending"))[0] == [
        "today"
    ]


async def test_without_today_the_servers_date_is_used_and_stated(client: MCPClient) -> None:
    before = date.today()
    await seed(client, before)

    titles, text = await listed(client, due="today")

    after = date.today()
    # A run that crosses midnight may see either day; both are stated the same way.
    if before == after:
        assert titles == ["today", "today, done"]
    assert before.isoformat() in text or after.isoformat() in text


@pytest.mark.parametrize(
    "arguments",
    [
        {"due": "overdue", "due_before": "2026-03-01"},
        {"due": "today", "due_after": "2026-03-01"},
        {"due": "overdue", "status": "completed"},
        {"due": "soon"},
        {"today": "tomorrow"},
    ],
)
async def test_contradicting_or_bad_due_arguments_are_refused(
    client: MCPClient, arguments: dict[str, Any]
) -> None:
    result = await call(client, "list_tasks", **arguments)

    assert result.is_error
    message = _text(result)
    assert any(name in message for name in arguments), message


async def test_due_after_later_than_due_before_is_refused(client: MCPClient) -> None:
    await seed(client, TODAY)

    result = await call(client, "list_tasks", due_after="2026-03-11", due_before="2026-03-09")

    assert result.is_error
    message = _text(result)
    assert "due_after" in message
    assert "due_before" in message


async def test_a_one_day_range_is_allowed(client: MCPClient) -> None:
    await seed(client, TODAY)

    titles, _ = await listed(client, due_after=TODAY.isoformat(), due_before=TODAY.isoformat())

    assert titles == ["today", "today, done"]


@pytest.mark.parametrize("due", ["overdue", "today"])
@pytest.mark.parametrize("today", ["0001-01-01", "9999-12-31"])
async def test_a_today_at_the_calendars_edge_is_an_invalid_argument_naming_today(
    client: MCPClient, due: str, today: str
) -> None:
    result = await call(client, "list_tasks", due=due, today=today)

    assert result.is_error
    assert "today" in _text(result)
    assert "0001-01-02 to 9999-12-25" in _text(result)
    assert "internal" not in _text(result).lower()


async def test_overdue_works_from_the_first_day_it_can(client: MCPClient) -> None:
    await call(client, "add_task", title="first", due_date="0001-01-01")

    titles, _ = await listed(client, due="overdue", today="0001-01-02")

    assert titles == ["first"]
