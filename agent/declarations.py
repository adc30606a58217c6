"""Gemini function declarations derived from the MCP tool list: one source of truth.

The tools' JSON Schemas are reduced to the subset the Gemini API documents for function
parameters (its OpenAPI-style `Schema`, sent as `parameters`): `$ref`s inlined,
`anyOf [X, null]` turned into a nullable X, and keywords it does not know dropped. Arguments
that exist for the HTTP layer (`expected_version`, `idempotency_key`) are hidden from the model.
"""

from __future__ import annotations

from typing import Any

from google.genai import types
from mcp.types import Tool

from mcp_server.schemas import inline_refs

HIDDEN_ARGUMENTS = frozenset({"expected_version", "idempotency_key"})
_ALLOWED_KEYS = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minLength",
        "maxLength",
        "pattern",
        "anyOf",
        "items",
        "minimum",
        "maximum",
        "default",
    }
)
# Gemini's Schema knows only these string formats; the others live on in the description.
_ALLOWED_FORMATS = frozenset({"date-time", "enum"})


def function_declarations(tools: list[Tool]) -> list[types.FunctionDeclaration]:
    return [
        types.FunctionDeclaration(
            name=tool.name,
            description=tool.description or "",
            parameters=types.Schema.model_validate(gemini_parameters(tool.input_schema)),
        )
        for tool in tools
    ]


def gemini_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's input schema as Gemini accepts it, without the hidden arguments."""
    # The server registers its tools inlined already; this takes any MCP tool schema.
    converted: dict[str, Any] = _convert(inline_refs(schema))
    properties = converted.get("properties", {})
    for name in HIDDEN_ARGUMENTS:
        properties.pop(name, None)
    if "required" in converted:
        converted["required"] = [n for n in converted["required"] if n not in HIDDEN_ARGUMENTS]
    converted.setdefault("type", "object")
    converted.setdefault("properties", {})
    return converted


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "const" in node and "enum" not in node:
        node = {**node, "enum": [node["const"]]}
    options = node.get("anyOf")
    if isinstance(options, list):
        non_null = [option for option in options if option != {"type": "null"}]
        if len(non_null) < len(options):
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            if len(non_null) == 1:
                return _convert({**non_null[0], **rest, "nullable": True})
            return _convert({**rest, "anyOf": non_null, "nullable": True})
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _ALLOWED_KEYS:
            continue
        if key == "format" and value not in _ALLOWED_FORMATS:
            continue
        if key == "default" and value is None:
            continue
        if key == "properties":
            result[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf"):
            result[key] = _convert(value)
        else:
            result[key] = value
    return result
