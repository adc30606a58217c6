"""A tool result made in one dump carries the model as a client reads it: structured content
that is the model's JSON, and the readable text it is given."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
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
        "list_id": None,
        "recurrence": None,
        "completed_at": None,
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


@pytest.mark.parametrize(
    "model",
    [
        task(1),
        ODD,
        TaskPage(tasks=[task(1), ODD, task(3, tags=["x"])], total=40),
        TaskPage(tasks=[], total=0),
    ],
    ids=["plain task", "every field set, odd text", "page", "empty page"],
)
def test_the_result_is_the_models_json_as_structure_beside_the_readable_text(
    model: BaseModel,
) -> None:
    wire = json.loads(model.model_dump_json())  # the model as any JSON reader sees it

    result = tool_result(model, "readable")

    assert result.structured_content == wire
    assert result.is_error is False
    assert result.meta is None
    assert result.content == [TextContent(type="text", text="readable")]
    # A client that reads the structured content back gets the same model.
    assert type(model).model_validate(result.structured_content) == model
