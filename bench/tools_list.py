"""What the tool list costs a host's model: the bytes of `tools/list`, and tokens estimated.

A host puts each tool's name, description and input schema in front of the model on every turn
(some add the output schema too), so their size is a cost paid on every message. Printed per
tool: the bytes of the whole tool as listed, of it without its output schema, and of the
description alone; tokens are estimated at 4 bytes each (English prose and JSON schemas come out
at 3.5-4.5 bytes per token with current tokenizers).

    .venv/bin/python bench/tools_list.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from fastmcp import Client

from mcp_server.server import build_server
from mcp_server.settings import ServerSettings

BYTES_PER_TOKEN = 4


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'todo.db'}"
        server = build_server(ServerSettings(DATABASE_URL=url, TODO_USER_ID="bench-user"))
        async with Client(server) as client:
            tools = [
                tool.model_dump(by_alias=True, exclude_none=True, mode="json")
                for tool in await client.list_tools()
            ]
    rows = {
        tool["name"]: {
            "bytes": _size(tool),
            "without_output_schema": _size({k: v for k, v in tool.items() if k != "outputSchema"}),
            "description": len(tool.get("description", "").encode()),
        }
        for tool in tools
    }
    total = _size(tools)
    bare = _size([{k: v for k, v in tool.items() if k != "outputSchema"} for tool in tools])
    return {
        "tools": rows,
        "total_bytes": total,
        "total_bytes_without_output_schemas": bare,
        "estimated_tokens": total // BYTES_PER_TOKEN,
        "estimated_tokens_without_output_schemas": bare // BYTES_PER_TOKEN,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    result = asyncio.run(measure())
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'tool':<16}{'bytes':>8}{'w/o output':>12}{'description':>13}")
    for name, row in result["tools"].items():
        print(
            f"{name:<16}{row['bytes']:>8}{row['without_output_schema']:>12}{row['description']:>13}"
        )
    print(
        f"{'all':<16}{result['total_bytes']:>8}{result['total_bytes_without_output_schemas']:>12}"
    )
    print(
        f"estimated tokens: {result['estimated_tokens']} "
        f"({result['estimated_tokens_without_output_schemas']} without output schemas)"
    )


if __name__ == "__main__":
    main()
