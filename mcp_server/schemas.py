"""Tool schemas without `$ref`: what every MCP host can read, built once per process.

Pydantic writes enums and nested models (`Priority`, the tasks inside a `TaskPage`) as `$defs`
referenced by `$ref`. Some hosts cannot follow references, so fastmcp would inline them again on
every `tools/list`, importing jsonref for it on the first (~30 ms of a cold start). The task
models are acyclic, so inlining them once at registration is a short walk.
"""

from __future__ import annotations

from typing import Any

from fastmcp.tools import Tool

_LOCAL = "#/$defs/"


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each local `$ref` replaced by its definition and `$defs` dropped.

    Keywords beside a `$ref` (pydantic puts a field's description and default there) win
    over the definition's own. Raises ValueError for a reference it cannot inline: one outside
    `$defs` or one that refers back to itself.
    """
    definitions: dict[str, Any] = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if ref is None:
            return {key: walk(value, seen) for key, value in node.items() if key != "$defs"}
        name = ref[len(_LOCAL) :] if isinstance(ref, str) and ref.startswith(_LOCAL) else None
        if name is None or name not in definitions:
            raise ValueError(f"cannot inline the schema reference {ref!r}")
        if name in seen:
            raise ValueError(f"the schema reference {ref!r} is recursive")
        target = walk(definitions[name], (*seen, name))
        siblings = {key: walk(value, seen) for key, value in node.items() if key != "$ref"}
        return {**target, **siblings}

    result: dict[str, Any] = walk(schema, ())
    return result


# Keywords left out of output schemas. `description`, `default` and `format` validate nothing
# (JSON Schema 2020-12 makes `format` an annotation unless a validator opts in): the tool
# descriptions and input schemas say what the fields mean, where a model reads them. `required`
# would hold of every field of every result (each is always there), which its absence does not
# make less true: it cost a tenth of the whole tool list.
_ANNOTATIONS = ("description", "default", "format", "required")


def compact_output(schema: Any) -> Any:
    """An output schema in fewer bytes (every host pays for them on every turn): each
    `anyOf: [{type: X}, {type: null}]` written `type: [X, null]`, and `_ANNOTATIONS` left
    out. Output schemas only: they are read by validators, which know type lists, while some
    hosts' converters of input schemas expect `anyOf`, and models read descriptions there."""
    if isinstance(schema, list):
        return [compact_output(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "properties" and isinstance(value, dict):
            # Property names are not keywords: a field may be called `description`.
            node[key] = {name: compact_output(field) for name, field in value.items()}
        else:
            node[key] = compact_output(value)
    options = node.get("anyOf")
    if (
        isinstance(options, list)
        and len(options) == 2
        and options[1] == {"type": "null"}
        and isinstance(options[0], dict)
        and set(options[0]) == {"type"}
        and isinstance(options[0]["type"], str)
    ):
        del node["anyOf"]
        node = {**options[0], **node, "type": [options[0]["type"], "null"]}
    return node


def self_contained(tool: Tool) -> Tool:
    """`tool` with its input and output schemas inlined (and its output schema compact)."""
    update: dict[str, Any] = {"parameters": inline_refs(tool.parameters)}
    if tool.output_schema is not None:
        update["output_schema"] = compact_output(inline_refs(tool.output_schema))
    return tool.model_copy(update=update)
