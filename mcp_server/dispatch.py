"""Calling MCP tools in-process as a given user: the one way the adapter reaches tasks.

A call runs the server's registered tool (its argument validation, the tool function, its
structured result) with the user bound for that call only. It skips what only a remote MCP
session needs: JSON-RPC, the per-request tool lookup, telemetry spans and the middleware chain,
whose one job here (readable argument errors) is done below the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ValidationError
from fastmcp.tools import Tool as FastMCPTool
from mcp.types import Tool

from mcp_server.errors import TaskToolError, rejected_arguments
from mcp_server.identity import acting_as
from mcp_server.results import structured_only

log = logging.getLogger(__name__)


# Told of every call: the tool, its outcome ("ok" or the tool error's kind) and its seconds.
CallObserver = Callable[[str, str, float], None]


@contextmanager
def observed(name: str, observe: CallObserver) -> Iterator[None]:
    """Tell `observe` of the tool call the block makes when it ends, however it ends."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except TaskToolError as exc:
        outcome = exc.kind
        raise
    finally:
        observe(name, outcome, time.perf_counter() - started)


class ToolDispatcher:
    def __init__(self, server: FastMCP, observer: CallObserver | None = None) -> None:
        self._server = server
        self._tools: dict[str, FastMCPTool] | None = None
        self._observer = observer

    async def tools(self) -> list[Tool]:
        """The server's tools as MCP lists them (name, description, input schema)."""
        return [tool.to_mcp_tool() for tool in (await self._registered()).values()]

    async def call(self, user_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's structured result; a tool error raises `TaskToolError`."""
        with observed(name, self._observe):
            return await self._call(user_id, name, arguments)

    def _observe(self, name: str, outcome: str, seconds: float) -> None:
        # A failed call is worth a line (the request's id ties it to the request); a successful
        # one is already told by the access log.
        level = logging.DEBUG if outcome == "ok" else logging.INFO
        # The name may be the model's invention: quoted and cut short, it stays one short line.
        log.log(level, "tool %.80r: %s (%.1f ms)", name, outcome, seconds * 1000)
        if self._observer is not None:
            self._observer(name, outcome, seconds)

    async def _call(self, user_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        tools = await self._registered()
        tool = tools.get(name)
        if tool is None:
            raise TaskToolError(
                "not_found", f"There is no tool named {name!r}; use one of {', '.join(tools)}."
            )
        # Only the structured content is read here: no readable text is made for it.
        with acting_as(user_id), structured_only():
            try:
                result = await tool.run(arguments)
            except ValidationError as exc:
                raise rejected_arguments(exc) from exc
        if result.structured_content is None:
            raise TaskToolError("internal", f"The tool {name} returned no structured result.")
        return result.structured_content

    async def _registered(self) -> dict[str, FastMCPTool]:
        # Tools are registered once, when the server is built: look them up once too.
        if self._tools is None:
            self._tools = {tool.name: tool for tool in await self._server.list_tools()}
        return self._tools
