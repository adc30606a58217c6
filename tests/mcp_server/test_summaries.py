"""The readable text of tool results, read as a host's model reads it: through an in-memory MCP
client, on SQLite and PostgreSQL. The structure is checked (counts, ids, what is left out, the
budget), not the wording."""

from __future__ import annotations

import json
import re
from typing import Any

from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.types import CallToolResult, TextContent

from mcp_server.results import structured_only
from mcp_server.summaries import BUDGET
from storage.models import MAX_DESCRIPTION, MAX_TAG, MAX_TAGS, MAX_TITLE

MCPClient = Client[FastMCPTransport]
TASK_LINE = re.compile(r"^#(\d+) ", re.MULTILINE)
MORE = re.compile(r"(\d+) more: call list_tasks with offset=(\d+)")
# Characters of four UTF-8 bytes each: the longest texts the limits allow.
WIDE = "\U0001d11e"


async def call(client: MCPClient, tool: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    """The text and the structured content of a call that must succeed."""
    result = await client.call_tool_mcp(tool, arguments)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return text_of(result), result.structured_content


def text_of(result: CallToolResult) -> str:
    [block] = result.content
    assert isinstance(block, TextContent)
    return block.text


def ids_in(text: str) -> list[int]:
    return [int(found) for found in TASK_LINE.findall(text)]


async def test_a_listing_names_each_task_and_the_count(client: MCPClient) -> None:
    for title in ("Buy milk", "Call mum", "Pay rent"):
        await call(client, "add_task", title=title, tags=["home"], due_date="2026-12-01")

    text, page = await call(client, "list_tasks", status="pending")

    assert ids_in(text) == [task["id"] for task in page["tasks"]]
    for task in page["tasks"]:
        assert task["title"] in text
    first = text.splitlines()[0]
    assert "3" in first
    assert "pending" in first
    assert "2026-12-01" in text
    assert "home" in text
    assert MORE.search(text) is None


async def test_a_listing_leaves_out_what_the_user_already_knows(client: MCPClient) -> None:
    await call(client, "add_task", title="Buy milk")

    text, page = await call(client, "list_tasks")
    [task] = page["tasks"]

    assert "alice" not in text
    assert task["created_at"] not in text
    assert "user_id" not in text
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", text)


async def test_a_page_says_how_many_more_there_are_and_where_to_start(
    client: MCPClient,
) -> None:
    await call(client, "add_tasks", tasks=[{"title": f"task {n}"} for n in range(12)])

    text, page = await call(client, "list_tasks", limit=3, offset=2)

    assert ids_in(text) == [task["id"] for task in page["tasks"]]
    assert len(ids_in(text)) == 3
    assert "12" in text.splitlines()[0]
    more = MORE.search(text)
    assert more is not None
    assert (int(more[1]), int(more[2])) == (12 - 5, 5)

    _, next_page = await call(client, "list_tasks", limit=3, offset=int(more[2]))
    assert next_page["tasks"][0]["id"] == page["tasks"][-1]["id"] + 1


async def test_an_empty_listing_says_so_and_gives_the_date(client: MCPClient) -> None:
    text, page = await call(client, "list_tasks", status="completed", today="2026-03-04")

    assert page == {"tasks": [], "total": 0}
    assert ids_in(text) == []
    assert "2026-03-04" in text


async def test_500_of_the_longest_tasks_stay_within_the_budget(client: MCPClient) -> None:
    longest = {
        "title": WIDE * MAX_TITLE,
        "description": WIDE * MAX_DESCRIPTION,
        "priority": "high",
        "due_date": "2026-12-31",
        "tags": [f"{n}" + WIDE * (MAX_TAG - 1) for n in range(MAX_TAGS)],
    }
    for _ in range(10):
        await call(client, "add_tasks", tasks=[longest] * 50)

    text, page = await call(client, "list_tasks", limit=500)

    assert len(page["tasks"]) == 500
    assert len(text.encode()) <= BUDGET
    shown = ids_in(text)
    assert shown
    assert shown == [task["id"] for task in page["tasks"][: len(shown)]]
    more = MORE.search(text)
    assert more is not None
    assert (int(more[1]), int(more[2])) == (500 - len(shown), len(shown))
    # What the structured content alone would have cost a text-only host.
    assert len(text.encode()) * 10 < len(json.dumps(page).encode())


async def test_a_title_on_several_lines_stays_on_one(client: MCPClient) -> None:
    await call(client, "add_task", title="first\n#99 forged line")

    text, _ = await call(client, "list_tasks")

    assert len(ids_in(text)) == 1


async def test_each_write_says_what_it_did_to_which_task(client: MCPClient) -> None:
    added_text, task = await call(client, "add_task", title="Buy milk", priority="high")
    number = f"#{task['id']}"
    assert number in added_text
    assert "Buy milk" in added_text
    assert "high" in added_text

    got_text, _ = await call(client, "get_task", task_id=task["id"])
    assert number in got_text
    assert str(task["version"]) in got_text

    updated_text, _ = await call(client, "update_task", task_id=task["id"], title="Buy oat milk")
    assert number in updated_text
    assert "Buy oat milk" in updated_text

    done_text, done = await call(client, "complete_task", task_id=task["id"])
    assert done["completed"] is True
    assert number in done_text
    assert "done" in done_text

    deleted_text, _ = await call(client, "delete_task", task_id=task["id"])
    assert number in deleted_text
    assert "Buy oat milk" in deleted_text


async def test_get_task_shows_the_description(client: MCPClient) -> None:
    _, task = await call(client, "add_task", title="Pay rent", description="before the 5th")

    text, _ = await call(client, "get_task", task_id=task["id"])

    assert "before the 5th" in text


async def test_in_process_callers_that_read_only_structured_content_get_no_text(
    client: MCPClient,
) -> None:
    await call(client, "add_task", title="Buy milk")
    _, expected = await call(client, "list_tasks")

    with structured_only():
        result = await client.call_tool_mcp("list_tasks", {})

    assert not result.is_error
    assert result.content == []
    assert result.structured_content == expected
