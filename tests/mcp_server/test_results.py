"""Tool results made in one dump carry the structured content fastmcp's generic conversion makes,
and the readable text they are given."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastmcp.tools import Tool
from mcp.types import TextContent
from pydantic import BaseModel

from mcp_server.results import tool_result
from storage.models import Priority, TaskPage, TaskPublic

AWARE = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC)


def task(task_id: int, **fields: object) -> TaskPublic:
    values: dict[str, object] = {
        "id": task_id,
        "user_id": "alice",
        "title": "Buy milk",
        "description": None,
        "completed": False,
        "priority": Priority.medium,
        "due_date": None,
        "tags": [],
        "created_at": AWARE,
        "updated_at": AWARE,
        "version": 1,
    }
    return TaskPublic.model_validate(values | fields)


ODD = task(
    7,
    user_id="ü@example.com",
    title='Straße ☃ "quoted" \\ / \u2028',
    description="line one\nline two\ttab \x1f",
    completed=True,
    priority=Priority.high,
    due_date=date(2026, 12, 31),
    tags=["été", "a b"],
    version=12,
)


async def _one_task() -> TaskPublic:
    raise NotImplementedError


async def _page() -> TaskPage:
    raise NotImplementedError


@pytest.mark.parametrize(
    ("model", "annotated"),
    [
        (task(1), _one_task),
        (ODD, _one_task),
        (TaskPage(tasks=[task(1), ODD, task(3, tags=["x"])], total=40), _page),
        (TaskPage(tasks=[], total=0), _page),
    ],
    ids=["plain task", "every field set, odd text", "page", "empty page"],
)
def test_the_structured_content_is_the_one_fastmcp_would_make(
    model: BaseModel, annotated: object
) -> None:
    generic = Tool.from_function(annotated).convert_result(model)  # type: ignore[arg-type]

    ours = tool_result(model, "readable")

    assert ours.structured_content == generic.structured_content
    assert ours.content == [TextContent(type="text", text="readable")]
    assert ours.meta == generic.meta
    assert ours.is_error is generic.is_error is False
    mcp_result = ours.to_mcp_result()
    assert mcp_result == (ours.content, generic.structured_content)
