"""The list tools, and list_id / recurrence / completed_at through the task tools, over an
in-memory MCP client (on SQLite and PostgreSQL); and the size of the whole tool list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from fastmcp.exceptions import ToolError

from bench.tools_list import BYTES_PER_TOKEN, measure

Connected = Client[FastMCPTransport]
TOKEN_BUDGET = 5_000


async def call(client: Connected, tool: str, /, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    return result.structured_content


async def test_lists_are_made_found_renamed_and_deleted(client: Connected) -> None:
    work = await call(client, "add_list", name=" Work ")
    await call(client, "add_task", title="report", list_id=work["id"])
    done = await call(client, "add_task", title="memo", list_id=work["id"], completed=True)

    listed = await call(client, "list_lists")
    renamed = await call(
        client, "update_list", list_id=work["id"], name="Office", expected_version=1
    )
    in_list = await call(client, "list_tasks", list_id=work["id"])
    gone = await call(client, "delete_list", list_id=work["id"])
    inbox = await call(client, "list_tasks", list_id="none")

    assert work["name"] == "Work"
    assert listed["lists"] == [{**work, "open_count": 1}]
    assert (renamed["name"], renamed["version"]) == ("Office", 2)
    assert [t["title"] for t in in_list["tasks"]] == ["report", "memo"]
    assert gone["id"] == work["id"]
    assert [t["title"] for t in inbox["tasks"]] == ["report", "memo"]
    assert {t["list_id"] for t in inbox["tasks"]} == {None}
    assert done["completed_at"] is not None
    assert (await call(client, "list_lists"))["lists"] == []


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("add_task", {"title": "t", "list_id": 4242}, "list_id: 4242 is not one of"),
        ("add_task", {"title": "t", "recurrence": "FREQ=DAILY"}, "due_date"),
        (
            "add_task",
            {"title": "t", "due_date": "2026-01-01", "recurrence": "FREQ=HOURLY"},
            "FREQ=HOURLY is outside the supported subset",
        ),
        (
            "add_task",
            {"title": "t", "due_date": "2026-01-01", "recurrence": "FREQ=DAILY;BYSETPOS=1"},
            "BYSETPOS is outside the supported subset",
        ),
        ("update_list", {"list_id": 4242, "name": "x"}, "List 4242 not found"),
        ("delete_list", {"list_id": 4242}, "List 4242 not found"),
        ("add_list", {"name": "   "}, "name"),
    ],
)
async def test_bad_list_and_rule_arguments_are_tool_errors_a_model_can_act_on(
    client: Connected, name: str, arguments: dict[str, Any], says: str
) -> None:
    with pytest.raises(ToolError, match=says):
        await client.call_tool(name, arguments)


async def test_a_taken_list_name_is_a_tool_error(client: Connected) -> None:
    await call(client, "add_list", name="Groceries")

    with pytest.raises(ToolError, match="already exists"):
        await client.call_tool("add_list", {"name": "groceries"})


async def test_completing_a_recurring_task_names_its_next_occurrence(client: Connected) -> None:
    task = await call(
        client,
        "add_task",
        title="Pay rent",
        due_date="2026-01-31",
        recurrence="freq=monthly;bymonthday=-1",
    )

    result = await client.call_tool("complete_task", {"task_id": task["id"]})
    done = result.structured_content
    assert done is not None
    following = await call(client, "get_task", task_id=done["next_task_id"])
    again = await call(client, "update_task", task_id=task["id"], completed=False)
    redone = await call(client, "complete_tasks", task_ids=[task["id"]])

    assert task["recurrence"] == "FREQ=MONTHLY;BYMONTHDAY=-1"
    assert f"task #{done['next_task_id']}" in result.content[0].text  # type: ignore[union-attr]
    assert following["due_date"] == "2026-02-28"
    assert not following["completed"]
    assert again["completed_at"] is None
    assert "next_task_id" not in redone["results"][0]["task"]
    assert (await call(client, "list_tasks"))["total"] == 2


async def test_bulk_completion_reports_each_next_occurrence(client: Connected) -> None:
    daily = await call(
        client, "add_task", title="a", due_date="2026-01-01", recurrence="FREQ=DAILY"
    )
    plain = await call(client, "add_task", title="b")

    report = await call(client, "complete_tasks", task_ids=[daily["id"], plain["id"]])

    first, second = report["results"]
    assert first["task"]["next_task_id"] is not None
    assert "next_task_id" not in second["task"]
    assert (await call(client, "get_task", task_id=first["task"]["next_task_id"]))[
        "due_date"
    ] == "2026-01-02"


async def test_tasks_sort_by_completion_time(client: Connected) -> None:
    ids = [(await call(client, "add_task", title=f"t{n}"))["id"] for n in range(3)]
    await call(client, "complete_task", task_id=ids[2])
    await call(client, "complete_task", task_id=ids[0])

    page = await call(client, "list_tasks", sort="-completed_at")

    assert [t["id"] for t in page["tasks"]] == [ids[0], ids[2], ids[1]]


async def test_the_whole_tool_list_stays_under_its_token_budget() -> None:
    measured = await measure()

    assert measured["estimated_tokens"] < TOKEN_BUDGET, json.dumps(measured["tools"])
    assert measured["estimated_tokens"] == measured["total_bytes"] // BYTES_PER_TOKEN
    assert {"add_list", "list_lists", "update_list", "delete_list"} <= set(measured["tools"])
