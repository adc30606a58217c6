"""Tool results made straight from the model a tool returns and the text that describes it.

A result carries the model as its structured content (what in-process callers and clients that
read structured content use) and a short readable text (`mcp_server.summaries`, for hosts that
show the model only text; not made for in-process callers, see `structured_only`).

fastmcp would turn a returned model into a result generically: write it out as JSON text and
parse it back, write that again as the text block, and have `ToolResult` write and parse the
structured content once more. The task models hold only strings, integers, booleans, dates and
lists, which dump to JSON values directly, so one dump makes the structured content: on a
20-task listing that was a fifth of a REST request.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar, get_args, get_type_hints

from fastmcp.tools import ToolResult
from mcp.types import TextContent
from pydantic import BaseModel

P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)


# Whether results get their text: in-process callers that read only the structured content
# (the REST adapter, the chat agent) turn it off, and a listing's text is not made for nothing.
_with_text: ContextVar[bool] = ContextVar("todo_mcp_with_text", default=True)


@contextmanager
def structured_only() -> Iterator[None]:
    """Tool calls made inside this block return their structured content and no text."""
    token = _with_text.set(False)
    try:
        yield
    finally:
        _with_text.reset(token)


@dataclass(frozen=True, slots=True)
class Described(Generic[M]):
    """What a tool returns: its result, and how to write the text a model reads about it
    (made only when a result needs it)."""

    value: M
    text: Callable[[], str]


def tool_result(value: BaseModel, text: str | None) -> ToolResult:
    # model_construct: ToolResult's own constructor would serialise and parse the structured
    # content once more to check it is JSON, which a model_dump(mode="json") already is.
    return ToolResult.model_construct(
        content=[] if text is None else [TextContent(type="text", text=text)],
        structured_content=value.model_dump(mode="json"),
        meta=None,
        is_error=False,
    )


def returns_tool_result(
    function: Callable[P, Awaitable[Described[M]]],
) -> Callable[P, Awaitable[ToolResult]]:
    """Make a tool that returns `Described[Model]` return its `ToolResult`.

    fastmcp derives a tool's input schema from the signature and its output schema from the
    return annotation, so the wrapper shows the function's signature with `Model` as what it
    returns: the output schema is the model's, as if the tool returned the bare model."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> ToolResult:
        done = await function(*args, **kwargs)
        return tool_result(done.value, done.text() if _with_text.get() else None)

    (model,) = get_args(get_type_hints(function)["return"])
    annotations: dict[str, Any] = {**function.__annotations__, "return": model}
    wrapper.__annotations__ = annotations
    wrapper.__signature__ = inspect.signature(function).replace(  # type: ignore[attr-defined]
        return_annotation=model
    )
    return wrapper
