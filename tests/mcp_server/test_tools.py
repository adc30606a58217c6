"""The task tools, through an in-memory MCP client, on SQLite and PostgreSQL.

Detailed filtering and sorting cases belong to the storage tests; here each behaviour is checked
the way a model meets it: arguments in, structured content or an error text out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.types import CallToolResult, TextContent

from mcp_server.identity import acting_as
from mcp_server.server import build_server
from mcp_server.settings import ServerSettings
from storage.database import Database
from tests.support.problems import assert_no_leak
from tests.support.times import instant
from tests.support.tools import TOOL_NAMES

MCPClient = Client[FastMCPTransport]

TOOLS = TOOL_NAMES
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


async def call(client: MCPClient, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool_mcp(tool, arguments)


async def ok(client: MCPClient, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured result of a call that must succeed."""
    result = await call(client, tool, **arguments)
    assert not result.is_error, _text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def fails(client: MCPClient, tool: str, **arguments: Any) -> str:
    """The error text of a call that must fail as a tool error, checked for leaked internals."""
    result = await call(client, tool, **arguments)
    assert result.is_error, result.structured_content
    text = _text(result)
    assert text
    assert_no_leak(text)
    return text


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def total(client: MCPClient) -> int:
    page = await ok(client, "list_tasks")
    count = page["total"]
    assert isinstance(count, int)
    return count


async def titles(client: MCPClient, **filters: Any) -> list[str]:
    page = await ok(client, "list_tasks", **filters)
    return [task["title"] for task in page["tasks"]]


# --- the tool list ------------------------------------------------------------------------


async def test_lists_exactly_the_task_tools(client: MCPClient) -> None:
    assert {tool.name for tool in await client.list_tools()} == TOOLS


async def test_every_tool_is_described_with_closed_schemas_and_no_user_id(
    client: MCPClient,
) -> None:
    for tool in await client.list_tools():
        assert tool.description, tool.name
        assert len(tool.description) > 30, tool.name
        schema = tool.input_schema
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False, tool.name
        assert "user_id" not in schema.get("properties", {}), tool.name
        assert tool.output_schema is not None, tool.name
        assert tool.output_schema["type"] == "object", tool.name


async def test_tool_annotations_follow_the_spec(client: MCPClient) -> None:
    hints = {
        tool.name: (
            tool.annotations.read_only_hint,
            tool.annotations.destructive_hint,
            tool.annotations.idempotent_hint,
        )
        for tool in await client.list_tools()
        if tool.annotations is not None
    }
    # (readOnly, destructive, idempotent); None means "not claimed".
    assert hints == {
        "add_task": (False, False, None),
        "list_tasks": (True, False, None),
        "get_task": (True, False, None),
        "update_task": (False, False, True),
        "complete_task": (False, False, True),
        "delete_task": (False, True, True),
        "add_tasks": (False, False, None),
        "complete_tasks": (False, False, True),
        "add_list": (False, False, None),
        "list_lists": (True, False, None),
        "update_list": (False, False, True),
        "delete_list": (False, True, True),
    }


# --- add_task ------------------------------------------------------------------------------


async def test_add_task_returns_the_task_with_its_defaults(client: MCPClient) -> None:
    before = datetime.now(UTC)
    task = await ok(client, "add_task", title="Buy milk")

    assert isinstance(task["id"], int)
    assert task["user_id"] == "alice"
    assert task["title"] == "Buy milk"
    assert task["description"] is None
    assert task["completed"] is False
    assert task["priority"] == "medium"
    assert task["due_date"] is None
    assert task["tags"] == []
    assert isinstance(task["version"], int)
    for field in ("created_at", "updated_at"):
        assert RFC3339_UTC.fullmatch(task[field]), task[field]
        stamp = datetime.fromisoformat(task[field])
        assert before - timedelta(seconds=5) <= stamp <= datetime.now(UTC) + timedelta(seconds=5)
    assert task["created_at"] == task["updated_at"]
    assert await ok(client, "get_task", task_id=task["id"]) == task


async def test_add_task_takes_every_field(client: MCPClient) -> None:
    task = await ok(
        client,
        "add_task",
        title="  Pay rent  ",
        description="before the 5th",
        priority="high",
        due_date="2026-03-01",
        tags=["home", "money"],
        completed=True,
    )

    assert task["title"] == "Pay rent"
    assert task["description"] == "before the 5th"
    assert task["priority"] == "high"
    assert task["due_date"] == "2026-03-01"
    assert task["tags"] == ["home", "money"]
    assert task["completed"] is True


@pytest.mark.parametrize("title", ["x", "x" * 200, "  padded  "])
async def test_add_task_accepts_titles_of_1_to_200_characters(
    client: MCPClient, title: str
) -> None:
    task = await ok(client, "add_task", title=title)

    assert task["title"] == title.strip()


@pytest.mark.parametrize("title", ["", "x" * 201, "   ", "\t\n"], ids=["0", "201", "spaces", "ws"])
async def test_add_task_rejects_a_bad_title_and_creates_nothing(
    client: MCPClient, title: str
) -> None:
    message = await fails(client, "add_task", title=title)

    assert "title" in message
    assert await total(client) == 0


async def test_add_task_without_a_title_names_it(client: MCPClient) -> None:
    message = await fails(client, "add_task", description="no title")

    assert "title" in message
    assert await total(client) == 0


async def test_add_task_accepts_a_description_of_1000_characters(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t", description="d" * 1000)

    assert task["description"] == "d" * 1000


async def test_add_task_rejects_a_description_of_1001_characters(client: MCPClient) -> None:
    message = await fails(client, "add_task", title="t", description="d" * 1001)

    assert "description" in message
    assert await total(client) == 0


async def test_add_task_rejects_more_than_10_tags(client: MCPClient) -> None:
    assert (await ok(client, "add_task", title="ten", tags=[f"t{i}" for i in range(10)]))["tags"]

    message = await fails(client, "add_task", title="eleven", tags=[f"t{i}" for i in range(11)])

    assert "tags" in message
    assert await total(client) == 1


async def test_add_task_drops_duplicate_tags_and_keeps_their_order(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t", tags=["work", "home", "work", " home "])

    assert task["tags"] == ["work", "home"]


@pytest.mark.parametrize("tag", ["", "   ", "x" * 33])
async def test_add_task_rejects_a_bad_tag(client: MCPClient, tag: str) -> None:
    message = await fails(client, "add_task", title="t", tags=["ok", tag])

    assert "tags" in message
    assert await total(client) == 0


@pytest.mark.parametrize("due_date", ["2026-02-30", "next week", "2026-03-01T10:00:00"])
async def test_add_task_rejects_a_due_date_that_is_not_a_calendar_date(
    client: MCPClient, due_date: str
) -> None:
    message = await fails(client, "add_task", title="t", due_date=due_date)

    assert "due_date" in message
    assert await total(client) == 0


async def test_add_task_rejects_an_unknown_priority(client: MCPClient) -> None:
    message = await fails(client, "add_task", title="t", priority="urgent")

    assert "priority" in message
    assert "low" in message
    assert await total(client) == 0


async def test_add_task_rejects_a_completed_that_is_not_a_boolean(client: MCPClient) -> None:
    message = await fails(client, "add_task", title="t", completed="yes")

    assert "completed" in message
    assert await total(client) == 0


async def test_add_task_with_the_same_idempotency_key_creates_one_task(
    client: MCPClient,
) -> None:
    first = await ok(client, "add_task", title="Call mum", idempotency_key="k-1")
    again = await ok(client, "add_task", title="Call mum", idempotency_key="k-1")

    assert again == first
    assert await total(client) == 1


async def test_add_task_reusing_an_idempotency_key_for_other_arguments_fails(
    client: MCPClient,
) -> None:
    await ok(client, "add_task", title="Call mum", idempotency_key="k-1")

    message = await fails(client, "add_task", title="Call dad", idempotency_key="k-1")

    assert "idempotency_key" in message
    assert await titles(client) == ["Call mum"]


async def test_idempotency_keys_belong_to_one_user(client: MCPClient) -> None:
    mine = await ok(client, "add_task", title="Call mum", idempotency_key="k-1")
    with acting_as("bob"):
        theirs = await ok(client, "add_task", title="Call dad", idempotency_key="k-1")

    assert theirs["id"] != mine["id"]
    assert theirs["user_id"] == "bob"


# --- the user is never an argument ---------------------------------------------------------


async def test_add_task_with_a_user_id_argument_is_rejected(client: MCPClient) -> None:
    message = await fails(client, "add_task", title="sneaky", user_id="bob")

    assert "user_id" in message
    assert await total(client) == 0
    with acting_as("bob"):
        assert await total(client) == 0


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("list_tasks", {}),
        ("get_task", {}),
        ("update_task", {"title": "changed", "completed": True}),
        ("complete_task", {}),
        ("delete_task", {}),
    ],
)
async def test_a_user_id_argument_is_rejected_and_changes_nothing(
    client: MCPClient, tool: str, arguments: dict[str, Any]
) -> None:
    task = await ok(client, "add_task", title="mine")
    if tool != "list_tasks":
        arguments = {"task_id": task["id"], **arguments}

    message = await fails(client, tool, user_id="bob", **arguments)

    assert "user_id" in message
    assert await ok(client, "get_task", task_id=task["id"]) == task
    assert await total(client) == 1


async def test_a_request_meta_user_does_not_choose_the_user(client: MCPClient) -> None:
    result = await client.call_tool_mcp("add_task", {"title": "t"}, meta={"user_id": "bob"})

    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["user_id"] == "alice"


# --- identity bound in-process ---------------------------------------------------------------


async def test_acting_as_binds_the_user_of_calls_made_inside_it(client: MCPClient) -> None:
    with acting_as("bob"):
        bobs = await ok(client, "add_task", title="bob's")
        assert await titles(client) == ["bob's"]
    alices = await ok(client, "add_task", title="alice's")

    assert bobs["user_id"] == "bob"
    assert alices["user_id"] == "alice"
    assert await titles(client) == ["alice's"]


async def test_the_binding_ends_with_its_block_even_after_an_error(client: MCPClient) -> None:
    async def add_as_bob_then_fail() -> None:
        with acting_as("bob"):
            await ok(client, "add_task", title="bob's")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        await add_as_bob_then_fail()

    assert (await ok(client, "add_task", title="t"))["user_id"] == "alice"


async def test_another_users_task_is_not_found_and_stays_unchanged(client: MCPClient) -> None:
    with acting_as("bob"):
        bobs = await ok(client, "add_task", title="bob's secret", tags=["private"])
    task_id = bobs["id"]

    for tool, arguments in [
        ("get_task", {}),
        ("update_task", {"title": "mine now"}),
        ("complete_task", {}),
        ("delete_task", {}),
        ("delete_task", {"expected_version": bobs["version"]}),
    ]:
        message = await fails(client, tool, task_id=task_id, **arguments)
        assert message.startswith(f"Task {task_id} not found."), (tool, message)
        assert "bob" not in message
    assert await total(client) == 0
    assert await titles(client, query="secret") == []
    with acting_as("bob"):
        assert await ok(client, "get_task", task_id=task_id) == bobs


# --- missing tasks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_task", {}),
        ("update_task", {"title": "x"}),
        ("update_task", {"title": "x", "expected_version": 1}),
        ("complete_task", {}),
        ("delete_task", {}),
        ("delete_task", {"expected_version": 1}),
    ],
)
async def test_a_missing_task_is_not_found(
    client: MCPClient, tool: str, arguments: dict[str, Any]
) -> None:
    message = await fails(client, tool, task_id=4242, **arguments)

    assert message.startswith("Task 4242 not found.")
    assert "list_tasks" in message


@pytest.mark.parametrize("task_id", [0, -1, "one"])
async def test_a_task_id_that_cannot_exist_is_a_bad_argument(
    client: MCPClient, task_id: object
) -> None:
    message = await fails(client, "get_task", task_id=task_id)

    assert "task_id" in message


# --- list_tasks ------------------------------------------------------------------------------


async def _seed(client: MCPClient) -> dict[str, int]:
    specs: list[dict[str, Any]] = [
        {"title": "Water plants", "priority": "low", "tags": ["home"], "due_date": "2026-03-03"},
        {"title": "file taxes", "priority": "high", "tags": ["money"], "due_date": "2026-04-15"},
        {"title": "Buy bread", "priority": "medium", "tags": ["home", "shop"]},
        {"title": "Call the bank", "priority": "high", "description": "about the 100% fee"},
        {"title": "Book dentist", "priority": "low", "due_date": "2026-03-01", "completed": True},
    ]
    return {spec["title"]: (await ok(client, "add_task", **spec))["id"] for spec in specs}


async def test_list_tasks_returns_all_in_creation_order_with_the_total(
    client: MCPClient,
) -> None:
    ids = await _seed(client)

    page = await ok(client, "list_tasks")

    assert [task["id"] for task in page["tasks"]] == list(ids.values())
    assert page["total"] == 5


async def test_list_tasks_filters_by_status(client: MCPClient) -> None:
    await _seed(client)

    assert await titles(client, status="completed") == ["Book dentist"]
    assert len(await titles(client, status="pending")) == 4


async def test_list_tasks_filters_by_priority_tag_and_due_dates(client: MCPClient) -> None:
    await _seed(client)

    assert await titles(client, priority="high") == ["file taxes", "Call the bank"]
    assert await titles(client, tag="home") == ["Water plants", "Buy bread"]
    assert await titles(client, due_before="2026-03-03") == ["Water plants", "Book dentist"]
    assert await titles(client, due_after="2026-03-02", due_before="2026-12-31") == [
        "Water plants",
        "file taxes",
    ]
    assert await titles(client, tag="home", priority="medium") == ["Buy bread"]


async def test_list_tasks_searches_title_and_description_case_insensitively(
    client: MCPClient,
) -> None:
    await _seed(client)

    assert await titles(client, query="BANK") == ["Call the bank"]
    assert await titles(client, query="100%") == ["Call the bank"]
    assert await titles(client, query="0%f") == []


async def test_list_tasks_search_is_case_insensitive_beyond_ascii(client: MCPClient) -> None:
    await ok(client, "add_task", title="Buy ÄPFEL")
    await ok(client, "add_task", title="Buy pears", description="not Äpfel or STRASSE")

    assert await titles(client, query="äpfel") == ["Buy ÄPFEL", "Buy pears"]
    assert await titles(client, query="straße") == ["Buy pears"]


async def test_list_tasks_sorts(client: MCPClient) -> None:
    await _seed(client)

    assert await titles(client, sort="-priority") == [
        "file taxes",
        "Call the bank",
        "Buy bread",
        "Water plants",
        "Book dentist",
    ]
    assert await titles(client, sort="title") == [
        "Book dentist",
        "Buy bread",
        "Call the bank",
        "file taxes",
        "Water plants",
    ]
    assert (await titles(client, sort="-due_date"))[:3] == [
        "file taxes",
        "Water plants",
        "Book dentist",
    ]


async def test_list_tasks_pages_with_limit_and_offset(client: MCPClient) -> None:
    ids = list((await _seed(client)).values())

    page = await ok(client, "list_tasks", limit=2, offset=1)
    assert [task["id"] for task in page["tasks"]] == ids[1:3]
    assert page["total"] == 5

    past_the_end = await ok(client, "list_tasks", offset=10)
    assert past_the_end == {"tasks": [], "total": 5}


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("status", "done"),
        ("sort", "due"),
        ("limit", 0),
        ("limit", 501),
        ("offset", -1),
        ("due_before", "tomorrow"),
        ("priority", "urgent"),
    ],
)
async def test_list_tasks_rejects_bad_arguments(
    client: MCPClient, argument: str, value: object
) -> None:
    message = await fails(client, "list_tasks", **{argument: value})

    assert argument in message


# --- update_task ----------------------------------------------------------------------------


async def test_update_task_changes_only_the_given_fields(client: MCPClient) -> None:
    task = await ok(
        client, "add_task", title="Old", description="notes", tags=["a"], due_date="2026-05-01"
    )

    updated = await ok(client, "update_task", task_id=task["id"], title="New", priority="high")

    assert updated["title"] == "New"
    assert updated["priority"] == "high"
    unchanged = ("id", "user_id", "description", "completed", "due_date", "tags", "created_at")
    assert {k: updated[k] for k in unchanged} == {k: task[k] for k in unchanged}
    assert updated["version"] != task["version"]
    assert instant(updated["updated_at"]) > instant(task["updated_at"])
    assert await ok(client, "get_task", task_id=task["id"]) == updated


async def test_update_task_replaces_tags_and_sets_completed(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t", tags=["a", "b"])

    updated = await ok(
        client, "update_task", task_id=task["id"], tags=["c", "c", "a"], completed=True
    )

    assert updated["tags"] == ["c", "a"]
    assert updated["completed"] is True


async def test_update_task_with_null_clears_description_and_due_date(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t", description="notes", due_date="2026-05-01")

    updated = await ok(client, "update_task", task_id=task["id"], description=None, due_date=None)

    assert updated["description"] is None
    assert updated["due_date"] is None
    assert updated["title"] == "t"


@pytest.mark.parametrize("field", ["title", "priority", "tags", "completed"])
async def test_update_task_with_null_for_a_required_field_fails(
    client: MCPClient, field: str
) -> None:
    task = await ok(client, "add_task", title="t")

    message = await fails(client, "update_task", task_id=task["id"], **{field: None})

    assert field in message
    assert await ok(client, "get_task", task_id=task["id"]) == task


@pytest.mark.parametrize(
    "change",
    [{"title": ""}, {"title": "x" * 201}, {"description": "d" * 1001}, {"due_date": "2026-02-30"}],
)
async def test_update_task_validates_like_add_task(
    client: MCPClient, change: dict[str, Any]
) -> None:
    task = await ok(client, "add_task", title="t")

    message = await fails(client, "update_task", task_id=task["id"], **change)

    assert next(iter(change)) in message
    assert await ok(client, "get_task", task_id=task["id"]) == task


async def test_update_task_to_the_same_values_keeps_the_version(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t", priority="high", tags=["a"])

    same = await ok(client, "update_task", task_id=task["id"], title="t", priority="high")
    nothing = await ok(client, "update_task", task_id=task["id"])

    assert same == task
    assert nothing == task


async def test_update_task_with_a_stale_expected_version_changes_nothing(
    client: MCPClient,
) -> None:
    task = await ok(client, "add_task", title="t")
    current = await ok(client, "update_task", task_id=task["id"], title="second")

    message = await fails(
        client, "update_task", task_id=task["id"], title="third", expected_version=task["version"]
    )

    assert f"Task {task['id']}" in message
    assert str(current["version"]) in message
    assert await ok(client, "get_task", task_id=task["id"]) == current


async def test_update_task_with_the_current_expected_version_applies(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t")

    updated = await ok(
        client, "update_task", task_id=task["id"], title="new", expected_version=task["version"]
    )

    assert updated["title"] == "new"


# --- complete_task ----------------------------------------------------------------------------


async def test_complete_task_marks_it_done_by_default(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t")

    done = await ok(client, "complete_task", task_id=task["id"])
    again = await ok(client, "complete_task", task_id=task["id"])

    assert done["completed"] is True
    assert again == done
    assert await titles(client, status="completed") == ["t"]


async def test_complete_task_with_false_marks_it_not_done(client: MCPClient) -> None:
    task = await ok(client, "add_task", title="t", completed=True)

    undone = await ok(client, "complete_task", task_id=task["id"], completed=False)

    assert undone["completed"] is False
    assert undone["version"] != task["version"]
    assert await titles(client, status="pending") == ["t"]


# --- delete_task ------------------------------------------------------------------------------


async def test_delete_task_returns_the_deleted_task_and_a_second_delete_is_not_found(
    client: MCPClient,
) -> None:
    task = await ok(client, "add_task", title="t", tags=["x"])
    other = await ok(client, "add_task", title="other")

    deleted = await ok(client, "delete_task", task_id=task["id"])

    assert deleted == task
    message = await fails(client, "delete_task", task_id=task["id"])
    assert message.startswith(f"Task {task['id']} not found.")
    assert (await fails(client, "get_task", task_id=task["id"])).startswith(
        f"Task {task['id']} not found."
    )
    assert await titles(client) == [other["title"]]


async def test_delete_task_with_a_stale_expected_version_keeps_the_task(
    client: MCPClient,
) -> None:
    task = await ok(client, "add_task", title="t")
    current = await ok(client, "update_task", task_id=task["id"], title="changed")

    message = await fails(
        client, "delete_task", task_id=task["id"], expected_version=task["version"]
    )

    assert f"Task {task['id']}" in message
    assert await ok(client, "get_task", task_id=task["id"]) == current
    deleted = await ok(
        client, "delete_task", task_id=task["id"], expected_version=current["version"]
    )
    assert deleted == current
    assert await total(client) == 0


# --- the store failing ------------------------------------------------------------------------


async def test_an_unreachable_store_is_a_tool_error_without_driver_text() -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/x")
    settings = ServerSettings(_env_file=None, TODO_USER_ID="alice")
    server = build_server(settings, db=db)
    try:
        async with Client(server) as client:
            calls: list[tuple[str, dict[str, Any]]] = [
                ("list_tasks", {}),
                ("add_task", {"title": "t"}),
                ("get_task", {"task_id": 1}),
            ]
            for tool, arguments in calls:
                message = await fails(client, tool, **arguments)
                assert "unavailable" in message, message
                assert "Errno" not in message
                assert "127.0.0.1" not in message
    finally:
        await db.dispose()


# --- hostile arguments ----------------------------------------------------------------------

# Past the 32-bit columns, past SQLite's 64-bit integers, and far beyond.
HUGE = [2**31, 2**63, 2**64 + 1, 10**30]


@pytest.mark.parametrize("number", HUGE)
async def test_a_task_id_past_any_column_is_simply_not_found(
    client: MCPClient, number: int
) -> None:
    for tool, extra in [
        ("get_task", {}),
        ("update_task", {"title": "x"}),
        ("complete_task", {}),
        ("delete_task", {}),
    ]:
        text = await fails(client, tool, task_id=number, **extra)
        assert text.startswith(f"Task {number} not found."), text


@pytest.mark.parametrize("number", HUGE)
async def test_an_expected_version_past_any_column_is_a_version_mismatch(
    client: MCPClient, number: int
) -> None:
    task = await ok(client, "add_task", title="kept")

    updated = await fails(
        client, "update_task", task_id=task["id"], title="x", expected_version=number
    )
    deleted = await fails(client, "delete_task", task_id=task["id"], expected_version=number)
    missing = await fails(client, "delete_task", task_id=task["id"] + 1, expected_version=number)

    assert updated.startswith(f"Task {task['id']} has changed"), updated
    assert deleted.startswith(f"Task {task['id']} has changed"), deleted
    assert missing.startswith(f"Task {task['id'] + 1} not found."), missing
    assert await ok(client, "get_task", task_id=task["id"]) == task


@pytest.mark.parametrize(
    ("tool", "arguments", "name"),
    [
        ("add_task", {"title": "t", "idempotency_key": "k\x00"}, "idempotency_key"),
        ("add_task", {"title": "a\x00"}, "title"),
        ("add_task", {"title": "t", "tags": ["\x00"]}, "tags.0"),
        ("add_task", {"title": "t", "description": "\x00"}, "description"),
        ("list_tasks", {"query": "\x00"}, "query"),
        ("list_tasks", {"tag": "a\x00"}, "tag"),
    ],
)
async def test_nul_in_any_text_argument_is_an_invalid_argument_naming_it(
    client: MCPClient, tool: str, arguments: dict[str, Any], name: str
) -> None:
    text = await fails(client, tool, **arguments)

    assert text.startswith("Invalid arguments."), text
    assert f"{name}: must not contain the NUL character (U+0000)" in text
    assert "try again" not in text.lower()
    assert await total(client) == 0
