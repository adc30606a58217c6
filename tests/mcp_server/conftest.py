"""Fixtures for the MCP server tests: a server on this test's own database, and a client to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastmcp import Client, FastMCP
from fastmcp.client.transports import FastMCPTransport

from mcp_server.server import build_server
from mcp_server.settings import ServerSettings

STDIO_USER = "alice"


@pytest.fixture
def server(database_url: str) -> FastMCP:
    """The server as `todo-mcp` builds it, acting for alice unless a call is bound to another."""
    return build_server(
        ServerSettings(_env_file=None, DATABASE_URL=database_url, TODO_USER_ID=STDIO_USER)
    )


@pytest.fixture
async def client(server: FastMCP) -> AsyncIterator[Client[FastMCPTransport]]:
    """An in-memory MCP client, connected (the server's lifespan opens the database)."""
    async with Client(server) as connected:
        yield connected
