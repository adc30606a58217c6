"""Tool results made straight from the task models a tool returns.

fastmcp turns a returned model into a result generically: it writes the model out as JSON text
and parses it back (so the structured content is exactly what a wire would carry), writes that
again as the text block, and `ToolResult` writes and parses the structured content once more.
The task models hold only strings, integers, booleans, dates and lists, which dump to JSON
values directly, so one dump serves both: on a 20-task listing that was a fifth of a REST
request. What reaches a client is the same: the structured content, and the text block of it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec

import pydantic_core
from fastmcp.tools import ToolResult
from mcp.types import TextContent
from pydantic import BaseModel

P = ParamSpec("P")


def tool_result(value: BaseModel) -> ToolResult:
    structured = value.model_dump(mode="json")
    text = pydantic_core.to_json(structured).decode()
    # model_construct: ToolResult's own constructor would serialise and parse `structured`
    # once more to check it is JSON, which a model_dump(mode="json") already is.
    return ToolResult.model_construct(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        meta=None,
        is_error=False,
    )


def returns_tool_result(
    function: Callable[P, Awaitable[BaseModel]],
) -> Callable[P, Awaitable[ToolResult]]:
    """Make a tool that returns a model return its `ToolResult`. The wrapper keeps the
    function's signature (functools.wraps), so fastmcp still derives the output schema from
    the model it is annotated with."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> ToolResult:
        return tool_result(await function(*args, **kwargs))

    return wrapper
