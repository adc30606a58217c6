"""Calling MCP tools in-process as a given user: the one way the adapter reaches tasks.

The call goes straight to the server's tool machinery (validation, middleware, the tool, its
structured result) without a JSON-RPC round trip; the user is bound for the call only.
"""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP
from mcp.types import Tool

from mcp_server.errors import TaskToolError
from mcp_server.identity import acting_as


class ToolDispatcher:
    def __init__(self, server: FastMCP) -> None:
        self._server = server

    async def tools(self) -> list[Tool]:
        """The server's tools as MCP lists them (name, description, input schema)."""
        return [tool.to_mcp_tool() for tool in await self._server.list_tools()]

    async def call(self, user_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's structured result; a tool error raises `TaskToolError`."""
        with acting_as(user_id):
            result = await self._server.call_tool(name, arguments)
        if result.structured_content is None:
            raise TaskToolError("internal", f"The tool {name} returned no structured result.")
        return result.structured_content
