"""Gemini function declarations derived from the real MCP server's tool list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from google.genai import types
from mcp.types import Tool

from agent.declarations import function_declarations, gemini_parameters
from mcp_server.dispatch import ToolDispatcher
from mcp_server.server import build_server
from mcp_server.settings import ServerSettings
from tests.support.tools import TOOL_NAMES

TASK_TOOLS = TOOL_NAMES
HIDDEN = {"expected_version", "idempotency_key"}


@pytest.fixture
def tools(tmp_path: Path) -> list[Tool]:
    """The tools as the real server lists them (listing opens no database)."""
    settings = ServerSettings(
        _env_file=None, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}"
    )
    return anyio.run(ToolDispatcher(build_server(settings)).tools)


@pytest.fixture
def declarations(tools: list[Tool]) -> dict[str, types.FunctionDeclaration]:
    return {d.name or "": d for d in function_declarations(tools)}


def parameters(declaration: types.FunctionDeclaration) -> dict[str, Any]:
    """The declaration's parameters as the JSON the SDK sends (camelCase keys)."""
    assert declaration.parameters is not None
    schema = declaration.parameters.model_dump(mode="json", exclude_none=True, by_alias=True)
    assert isinstance(schema, dict)
    lowered: dict[str, Any] = _lower_types(schema)
    return lowered


def _lower_types(node: Any) -> Any:
    """Gemini's `Type` enum is upper case on the wire; compare with JSON Schema's names."""
    if isinstance(node, list):
        return [_lower_types(item) for item in node]
    if isinstance(node, dict):
        return {
            k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)
            for k, v in node.items()
        }
    return node


def nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema object inside `schema`, itself included."""
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key == "properties":
                for sub in value.values():
                    yield from nodes(sub)
            elif key in ("items", "anyOf"):
                yield from nodes(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from nodes(item)


def test_there_is_one_declaration_per_tool_with_its_description(
    tools: list[Tool], declarations: dict[str, types.FunctionDeclaration]
) -> None:
    assert set(declarations) == TASK_TOOLS
    assert len(declarations) == len(tools)
    for tool in tools:
        assert tool.description
        assert declarations[tool.name].description == tool.description


def test_parameters_use_only_what_gemini_accepts(
    declarations: dict[str, types.FunctionDeclaration],
) -> None:
    for name, declaration in declarations.items():
        schema = parameters(declaration)
        assert schema["type"] == "object", name
        for node in nodes(schema):
            assert not {"$ref", "$defs", "additionalProperties", "const", "title"} & set(node)
            assert isinstance(node.get("type", ""), str), (name, node)
            assert {"type": "null"} not in node.get("anyOf", []), (name, node)
            assert node.get("format") in (None, "date-time", "enum"), (name, node)


def test_http_only_arguments_are_hidden_from_the_model(
    declarations: dict[str, types.FunctionDeclaration],
) -> None:
    for declaration in declarations.values():
        schema = parameters(declaration)
        assert not HIDDEN & set(schema["properties"])
        assert not HIDDEN & set(schema.get("required", []))
    assert set(parameters(declarations["add_task"])["properties"]) == {
        "title",
        "description",
        "priority",
        "due_date",
        "tags",
        "completed",
        "list_id",
        "recurrence",
    }
    assert set(parameters(declarations["delete_task"])["properties"]) == {"task_id"}
    assert set(parameters(declarations["delete_list"])["properties"]) == {"list_id"}


def test_required_arguments_stay_required(
    declarations: dict[str, types.FunctionDeclaration],
) -> None:
    assert parameters(declarations["add_task"])["required"] == ["title"]
    for name in ("get_task", "update_task", "complete_task", "delete_task"):
        assert parameters(declarations[name])["required"] == ["task_id"]
    assert not parameters(declarations["list_tasks"]).get("required")


def allows_null(schema: dict[str, Any]) -> bool:
    return {"type": "null"} in schema.get("anyOf", []) or schema.get("type") == "null"


def test_exactly_the_arguments_that_accept_null_are_nullable(
    tools: list[Tool], declarations: dict[str, types.FunctionDeclaration]
) -> None:
    for tool in tools:
        converted = parameters(declarations[tool.name])["properties"]
        for name, schema in tool.input_schema["properties"].items():
            if name in HIDDEN:
                continue
            assert converted[name].get("nullable", False) is allows_null(schema), (tool.name, name)


def test_nullable_fields_keep_their_type_and_limits(
    tools: list[Tool], declarations: dict[str, types.FunctionDeclaration]
) -> None:
    # Each argument keeps the description the tool gives it, whatever its wording.
    described = {
        (tool.name, name): schema["description"]
        for tool in tools
        for name, schema in tool.input_schema["properties"].items()
        if "description" in schema
    }
    add = parameters(declarations["add_task"])["properties"]
    assert add["description"] == {
        "type": "string",
        "maxLength": 1000,
        "nullable": True,
        "description": described["add_task", "description"],
    }
    assert add["due_date"]["type"] == "string"
    assert add["due_date"]["nullable"] is True
    assert "YYYY-MM-DD" in add["due_date"]["description"]
    assert add["tags"]["type"] == "array"
    assert add["tags"]["items"] == {"type": "string", "minLength": 1, "maxLength": 32}
    assert "nullable" not in add["title"]
    update = parameters(declarations["update_task"])["properties"]
    # null clears description and due date; it is no value for title or priority.
    assert update["description"]["nullable"] is True
    assert update["due_date"]["nullable"] is True
    assert "nullable" not in update["title"]
    assert "nullable" not in update["priority"]
    listing = parameters(declarations["list_tasks"])["properties"]
    assert listing["query"]["nullable"] is True
    assert listing["priority"]["enum"] == ["low", "medium", "high"]
    assert listing["priority"]["nullable"] is True
    assert listing["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 100,
        "description": described["list_tasks", "limit"],
    }


def test_the_sdk_accepts_the_declarations(
    declarations: dict[str, types.FunctionDeclaration],
) -> None:
    for name, declaration in declarations.items():
        schema = parameters(declaration)
        wire = {"name": name, "description": declaration.description}
        # A valid Gemini `Schema`, which refuses keys it does not know.
        as_schema = types.FunctionDeclaration.model_validate(
            {**wire, "parameters": types.Schema.model_validate(schema)}
        )
        assert as_schema.parameters is not None
        assert as_schema.parameters.type == types.Type.OBJECT


def test_refs_are_inlined_and_nullable_unions_flattened() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Priority": {"title": "Priority", "type": "string", "enum": ["low", "high"]},
            "Window": {
                "type": "object",
                "properties": {"start": {"type": "string", "format": "date"}},
                "required": ["start"],
            },
        },
        "properties": {
            "priority": {"$ref": "#/$defs/Priority", "description": "How urgent."},
            "window": {"anyOf": [{"$ref": "#/$defs/Window"}, {"type": "null"}]},
            "mode": {"const": "fast", "type": "string"},
            "labels": {"type": "array", "items": {"$ref": "#/$defs/Priority"}},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            "idempotency_key": {"type": "string"},
        },
        "required": ["priority", "idempotency_key"],
    }

    converted = gemini_parameters(schema)

    assert converted == {
        "type": "object",
        "properties": {
            "priority": {"type": "string", "enum": ["low", "high"], "description": "How urgent."},
            "window": {
                "type": "object",
                "properties": {"start": {"type": "string"}},
                "required": ["start"],
                "nullable": True,
            },
            "mode": {"type": "string", "enum": ["fast"]},
            "labels": {"type": "array", "items": {"type": "string", "enum": ["low", "high"]}},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
        },
        "required": ["priority"],
    }
    types.Schema.model_validate(converted)
