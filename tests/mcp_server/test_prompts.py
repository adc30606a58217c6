"""The prompts and argument completions, through an in-memory MCP client on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextContent

from mcp_server.identity import acting_as

MCPClient = Client[FastMCPTransport]
TODAY = date(2026, 3, 10)


async def add(client: MCPClient, *tasks: dict[str, Any]) -> None:
    result = await client.call_tool_mcp("add_tasks", {"tasks": list(tasks)})
    assert not result.is_error, result.content


async def prompt_text(client: MCPClient, name: str, **arguments: str) -> str:
    result = await client.get_prompt(name, arguments)
    [message] = result.messages
    assert message.role == "user"
    assert isinstance(message.content, TextContent)
    return message.content.text


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


async def test_the_prompts_are_listed_with_their_arguments(client: MCPClient) -> None:
    prompts = {prompt.name: prompt for prompt in await client.list_prompts()}

    assert set(prompts) == {"plan_my_day", "weekly_review"}
    for prompt in prompts.values():
        assert prompt.title
        assert prompt.description
        arguments = {argument.name: argument for argument in prompt.arguments or []}
        assert set(arguments) == {"today", "tag"}
        assert not any(argument.required for argument in arguments.values())


async def test_plan_my_day_brings_todays_overdue_and_important_tasks(client: MCPClient) -> None:
    await add(
        client,
        {"title": "due today", "due_date": day(0)},
        {"title": "overdue", "due_date": day(-2)},
        {"title": "important", "priority": "high", "due_date": day(20)},
        {"title": "some day"},
    )
    with acting_as("bob"):
        await add(client, {"title": "bob's", "due_date": day(0)})

    text = await prompt_text(client, "plan_my_day", today=TODAY.isoformat())

    assert TODAY.isoformat() in text
    for title in ("due today", "overdue", "important"):
        assert title in text
    assert "some day" not in text
    assert "bob's" not in text


async def test_weekly_review_brings_the_overdue_and_the_coming_week(client: MCPClient) -> None:
    await add(
        client,
        {"title": "overdue", "due_date": day(-1)},
        {"title": "this week", "due_date": day(6)},
        {"title": "next month", "due_date": day(30)},
        {"title": "finished", "due_date": day(2), "completed": True},
    )

    text = await prompt_text(client, "weekly_review", today=TODAY.isoformat())

    assert "overdue" in text
    assert "this week" in text
    assert "next month" not in text
    assert "finished" not in text
    assert "3 pending" in text
    assert "1 done" in text


async def test_a_tag_narrows_a_prompt(client: MCPClient) -> None:
    await add(
        client,
        {"title": "home chore", "due_date": day(0), "tags": ["home"]},
        {"title": "work item", "due_date": day(0), "tags": ["work"]},
    )

    text = await prompt_text(client, "plan_my_day", today=TODAY.isoformat(), tag="home")

    assert "home chore" in text
    assert "work item" not in text


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("plan_my_day", {"today": "tomorrow"}),
        ("weekly_review", {"today": "2026-02-30"}),
        ("plan_my_day", {"tag": "x" * 33}),
    ],
)
async def test_a_bad_prompt_argument_is_named(
    client: MCPClient, name: str, arguments: dict[str, str]
) -> None:
    with pytest.raises(MCPError, match=next(iter(arguments))):
        await client.get_prompt(name, arguments)


async def test_tags_complete_from_the_users_own_tags(client: MCPClient) -> None:
    await add(
        client,
        {"title": "a", "tags": ["Home", "work"]},
        {"title": "b", "tags": ["home-office", "Home"]},
    )
    with acting_as("bob"):
        await add(client, {"title": "bob's", "tags": ["hobby"]})
    reference = PromptReference(type="ref/prompt", name="plan_my_day")

    completion = await client.complete(reference, {"name": "tag", "value": "ho"})
    everything = await client.complete(reference, {"name": "tag", "value": ""})

    # Most used first, then alphabetically; matched without regard to case.
    assert completion.values == ["Home", "home-office"]
    assert everything.values == ["Home", "home-office", "work"]


async def test_today_completes_to_the_servers_date(client: MCPClient) -> None:
    reference = PromptReference(type="ref/prompt", name="weekly_review")
    before = date.today()

    completion = await client.complete(reference, {"name": "today", "value": ""})

    assert completion.values in ([before.isoformat()], [date.today().isoformat()])


async def test_other_arguments_complete_to_nothing(client: MCPClient) -> None:
    reference = ResourceTemplateReference(type="ref/resource", uri="tasks://{task_id}")

    completion = await client.complete(reference, {"name": "task_id", "value": "1"})

    assert completion.values == []


@pytest.mark.parametrize("name", ["plan_my_day", "weekly_review"])
@pytest.mark.parametrize("today", ["0001-01-01", "9999-12-31", "9999-12-26"])
async def test_a_today_at_the_calendars_edge_is_a_bad_argument_naming_today(
    client: MCPClient, name: str, today: str
) -> None:
    with pytest.raises(MCPError, match=r"today: must be a date from 0001-01-02 to 9999-12-25"):
        await client.get_prompt(name, {"today": today})


@pytest.mark.parametrize("today", ["0001-01-02", "9999-12-25"])
async def test_the_weekly_review_works_up_to_the_calendars_edge(
    client: MCPClient, today: str
) -> None:
    text = await prompt_text(client, "weekly_review", today=today)

    assert f"today is {today}" in text
