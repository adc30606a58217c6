"""Tool schemas are self-contained: no `$ref` reaches an MCP host, and inlining keeps meaning."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from pydantic.fields import FieldInfo

from mcp_server.schemas import inline_refs
from mcp_server.tools import PriorityArg


def test_a_reference_is_replaced_by_its_definition_and_defs_are_dropped() -> None:
    schema = {
        "$defs": {"Priority": {"enum": ["low", "high"], "type": "string"}},
        "properties": {"priority": {"$ref": "#/$defs/Priority"}},
        "type": "object",
    }
    assert inline_refs(schema) == {
        "properties": {"priority": {"enum": ["low", "high"], "type": "string"}},
        "type": "object",
    }


def test_keywords_beside_a_reference_win_over_the_definitions() -> None:
    schema = {
        "$defs": {"P": {"enum": ["a", "b"], "description": "generic"}},
        "properties": {"p": {"$ref": "#/$defs/P", "description": "specific", "default": "a"}},
    }
    assert inline_refs(schema)["properties"]["p"] == {
        "enum": ["a", "b"],
        "description": "specific",
        "default": "a",
    }


def test_nested_definitions_and_references_inside_lists_are_inlined() -> None:
    schema: dict[str, Any] = {
        "$defs": {
            "Priority": {"enum": ["low", "high"]},
            "Task": {"properties": {"priority": {"$ref": "#/$defs/Priority"}}},
        },
        "properties": {
            "items": {"items": {"$ref": "#/$defs/Task"}, "type": "array"},
            "either": {"anyOf": [{"$ref": "#/$defs/Priority"}, {"type": "null"}]},
        },
    }
    inlined = inline_refs(schema)
    assert inlined["properties"]["items"]["items"] == {
        "properties": {"priority": {"enum": ["low", "high"]}}
    }
    assert inlined["properties"]["either"]["anyOf"][0] == {"enum": ["low", "high"]}
    assert "$ref" not in json.dumps(inlined)
    # The input is left as it was.
    assert schema["properties"]["items"]["items"] == {"$ref": "#/$defs/Task"}


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"a": {"$ref": "#/$defs/Missing"}}},
        {"properties": {"a": {"$ref": "https://example.com/schema.json"}}},
        {
            "$defs": {"Node": {"properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "$ref": "#/$defs/Node",
        },
    ],
    ids=["missing", "remote", "recursive"],
)
def test_a_reference_that_cannot_be_inlined_is_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="reference"):
        inline_refs(schema)


async def test_no_listed_tool_schema_carries_a_reference(
    client: Client[FastMCPTransport],
) -> None:
    tools = await client.list_tools()
    assert len(tools) == 12
    for tool in tools:
        text = json.dumps([tool.input_schema, tool.output_schema])
        assert "$ref" not in text, tool.name
        assert "$defs" not in text, tool.name
    by_name = {tool.name: tool for tool in tools}
    # The enum and the nested task model arrived inline, with the field's own description.
    priority = by_name["add_task"].input_schema["properties"]["priority"]
    assert priority["enum"] == ["low", "medium", "high"]
    assert priority["description"] == _description_of(PriorityArg)
    listed = by_name["list_tasks"].output_schema
    assert listed is not None
    item = listed["properties"]["tasks"]["items"]
    assert item["properties"]["priority"]["enum"] == ["low", "medium", "high"]
    assert "version" in item["properties"]


def _description_of(argument: object) -> str | None:
    """The description an `Annotated[..., Field(description=...)]` argument type declares."""
    descriptions = [
        meta.description for meta in typing.get_args(argument)[1:] if isinstance(meta, FieldInfo)
    ]
    assert descriptions, argument
    return descriptions[0]
