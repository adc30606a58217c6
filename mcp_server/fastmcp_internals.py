"""The few private parts of fastmcp this server relies on, in one place.

fastmcp offers no public way to set the title its low-level server reports, to stop answering
(and so advertising) `logging/setLevel`, or to run a server's lifespan around a transport of our
own (`mcp_server.stdio`). `tests/mcp_server/test_fastmcp_internals.py` fails when a fastmcp
release changes any of them; fix them here, nowhere else.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from fastmcp import FastMCP

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server


def low_level_server(server: FastMCP) -> Server[object]:
    """The MCP SDK server fastmcp wraps (it runs the protocol on a transport's streams)."""
    return server._mcp_server


def set_title(server: FastMCP, title: str) -> None:
    """The title `initialize` reports in `serverInfo` (fastmcp takes no title)."""
    server._mcp_server.title = title


def stop_answering(server: FastMCP, method: str) -> None:
    """Remove the handler of a request method: the SDK advertises a capability only while its
    handler is there."""
    server._mcp_server._request_handlers.pop(method)


def lifespan(server: FastMCP) -> AbstractAsyncContextManager[None]:
    """The server's lifespan, as `run_stdio_async` enters it around its transport."""
    return server._lifespan_manager()
