"""The private parts of fastmcp the server relies on (`mcp_server.fastmcp_internals`) still do
what the server needs: this fails when a fastmcp release moves or changes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastmcp import Client, FastMCP
from mcp.server.lowlevel import Server

from mcp_server.fastmcp_internals import lifespan, low_level_server, set_title, stop_answering


def _server(events: list[str]) -> FastMCP:
    @asynccontextmanager
    async def life(_server: FastMCP) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("end")

    return FastMCP("probe", lifespan=life)


async def test_the_title_is_reported_and_a_removed_handler_is_not_advertised() -> None:
    plain, changed = _server([]), _server([])
    set_title(changed, "Probe title")
    stop_answering(changed, "logging/setLevel")

    async with Client(plain) as client:
        before = client.server_capabilities
    async with Client(changed) as client:
        after, info = client.server_capabilities, client.server_info

    assert before is not None
    assert after is not None
    assert info is not None
    assert before.logging is not None
    assert after.logging is None
    assert info.title == "Probe title"


async def test_the_lifespan_runs_around_what_it_wraps() -> None:
    events: list[str] = []
    server = _server(events)

    async with lifespan(server):
        events.append("inside")

    assert events == ["start", "inside", "end"]


def test_the_low_level_server_is_the_sdk_server_that_runs_the_protocol() -> None:
    low_level = low_level_server(_server([]))

    assert isinstance(low_level, Server)
    assert callable(low_level.run)
    assert low_level.create_initialization_options().server_name == "probe"
