"""The input models carry the product's limits, so every edge (MCP, REST) validates alike."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from storage.models import Priority, TaskCreate, TaskQuery, TaskUpdate


@pytest.mark.parametrize("title", ["a", "x" * 200, "é" * 200])
def test_title_of_1_to_200_characters_is_accepted(title: str) -> None:
    assert TaskCreate(title=title).title == title


@pytest.mark.parametrize("title", ["", "x" * 201, "   ", "\t\n "])
def test_title_empty_blank_or_over_200_characters_is_rejected(title: str) -> None:
    with pytest.raises(ValidationError, match="title"):
        TaskCreate(title=title)


def test_title_is_trimmed_before_its_length_is_checked() -> None:
    assert TaskCreate(title="  " + "x" * 200 + "\n").title == "x" * 200
    assert TaskCreate(title="  Buy milk \t").title == "Buy milk"


@pytest.mark.parametrize(
    ("field", "at_limit", "over_limit"),
    [
        ("description", "d" * 1000, "d" * 1001),
        ("tags", [f"tag{i}" for i in range(10)], [f"tag{i}" for i in range(11)]),
        ("tags", ["x" * 32], ["x" * 33]),
    ],
    ids=["description of 1000 characters", "ten tags", "a tag of 32 characters"],
)
def test_a_value_at_its_limit_is_accepted_and_one_more_is_rejected(
    field: str, at_limit: Any, over_limit: Any
) -> None:
    assert getattr(TaskCreate(title="t", **{field: at_limit}), field) == at_limit
    with pytest.raises(ValidationError, match=field):
        TaskCreate(title="t", **{field: over_limit})


@pytest.mark.parametrize("tag", ["", "   "])
def test_blank_tag_is_rejected(tag: str) -> None:
    with pytest.raises(ValidationError, match="tags"):
        TaskCreate(title="t", tags=["ok", tag])


def test_tags_are_trimmed_and_duplicates_dropped_in_order() -> None:
    task = TaskCreate(title="t", tags=["b", " a ", "b", "c", "a", "  c"])
    assert task.tags == ["b", "a", "c"]


@pytest.mark.parametrize(
    "due_date",
    [
        "2026-02-30",
        "tomorrow",
        1700000000,
        "2026-01-01T00:00:00",
        "2026-1-1",
        "20260101",
        datetime(2026, 1, 1, 12, 0),
    ],
)
def test_due_date_that_is_not_a_calendar_date_is_rejected(due_date: Any) -> None:
    with pytest.raises(ValidationError, match="due_date"):
        TaskCreate(title="t", due_date=due_date)


def test_due_date_accepts_a_real_calendar_date() -> None:
    assert TaskCreate(title="t", due_date="2028-02-29").due_date == date(2028, 2, 29)
    assert TaskCreate(title="t", due_date=date(2026, 5, 1)).due_date == date(2026, 5, 1)


@pytest.mark.parametrize("field", ["owner", "id", "user_id", "created_at", "updated_at"])
def test_create_rejects_unknown_and_server_owned_fields(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        TaskCreate.model_validate({"title": "t", field: "x"})


@pytest.mark.parametrize("completed", ["yes", "true", 1, None])
def test_completed_must_be_a_boolean(completed: Any) -> None:
    with pytest.raises(ValidationError, match="completed"):
        TaskCreate.model_validate({"title": "t", "completed": completed})


@pytest.mark.parametrize("priority", ["urgent", "HIGH", "", None])
def test_priority_outside_low_medium_high_is_rejected(priority: Any) -> None:
    with pytest.raises(ValidationError, match="priority"):
        TaskCreate.model_validate({"title": "t", "priority": priority})


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "a\x00b"},
        {"title": "t", "description": "a\x00b"},
        {"title": "t", "tags": ["a\x00b"]},
    ],
)
def test_text_containing_nul_is_rejected(fields: dict[str, Any]) -> None:
    # PostgreSQL cannot store it; both backends must answer the same way.
    with pytest.raises(ValidationError, match="NUL"):
        TaskCreate.model_validate(fields)


def test_create_defaults() -> None:
    task = TaskCreate(title="t")
    assert (task.description, task.priority, task.due_date, task.tags, task.completed) == (
        None,
        Priority.medium,
        None,
        [],
        False,
    )


def test_update_reports_only_the_fields_given() -> None:
    assert TaskUpdate().changes() == {}
    assert TaskUpdate(priority="high", completed=True).changes() == {
        "priority": Priority.high,
        "completed": True,
    }


def test_update_with_none_clears_description_and_due_date() -> None:
    assert TaskUpdate(description=None, due_date=None).changes() == {
        "description": None,
        "due_date": None,
    }


@pytest.mark.parametrize("field", ["title", "priority", "tags", "completed"])
def test_update_with_none_for_a_required_field_is_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        TaskUpdate.model_validate({field: None})


def test_update_validates_like_create() -> None:
    assert TaskUpdate(title="  new ", tags=["x", " x"]).changes() == {"title": "new", "tags": ["x"]}
    with pytest.raises(ValidationError, match="title"):
        TaskUpdate(title="x" * 201)
    with pytest.raises(ValidationError, match="due_date"):
        TaskUpdate(due_date="2026-02-30")
    with pytest.raises(ValidationError, match="version"):
        TaskUpdate.model_validate({"version": 3})


@pytest.mark.parametrize(
    "fields",
    [
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"sort": "id"},
        {"sort": "-updated_at"},
        {"status": "done"},
        {"due_before": "2026-02-30"},
        {"query": "x" * 201},
        {"query": "\x00"},
        {"tag": " "},
        {"user_id": "bob"},
    ],
)
def test_query_rejects_out_of_range_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TaskQuery.model_validate(fields)


def test_query_refuses_due_after_later_than_due_before() -> None:
    with pytest.raises(ValidationError, match="due_after") as raised:
        TaskQuery.model_validate({"due_after": "2026-03-02", "due_before": "2026-03-01"})
    assert "2026-03-01" in str(raised.value)

    same_day = TaskQuery.model_validate({"due_after": "2026-03-01", "due_before": "2026-03-01"})
    assert same_day.due_after == same_day.due_before


def test_query_limits_at_the_edges_are_accepted() -> None:
    assert TaskQuery(limit=1).limit == 1
    assert TaskQuery(limit=500, offset=0).limit == 500


def test_blank_query_means_no_search_and_search_text_is_trimmed() -> None:
    assert TaskQuery(query="   ").query is None
    assert TaskQuery(query="  milk ").query == "milk"
    assert TaskQuery(tag=" work ").tag == "work"
