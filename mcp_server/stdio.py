"""Serving MCP on stdio with every incoming line screened (`mcp_server.envelopes`).

This is what `FastMCP.run_stdio_async` does (the server's lifespan around the SDK's stdio
transport), except that stdin reaches the SDK through the screen, and whatever the screen
refuses is answered with a JSON-RPC error on the transport's own writer (so it never
interleaves with another answer on stdout) and logged in one line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from fastmcp import FastMCP
from fastmcp.server.context import reset_transport, set_transport
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import ErrorData, JSONRPCError

from mcp_server.envelopes import Rejection, screen
from mcp_server.fastmcp_internals import lifespan, low_level_server

log = logging.getLogger(__name__)

# Refused lines waiting for their answer; a client flooding bad lines waits for the writer.
_PENDING_ANSWERS = 64


async def serve_stdio(server: FastMCP) -> None:
    """Serve `server` on this process's stdin and stdout until stdin closes."""
    to_answer, answers = anyio.create_memory_object_stream[Rejection](_PENDING_ANSWERS)
    transport = set_transport("stdio")
    try:
        async with lifespan(server):
            lines = _screened_lines(anyio.wrap_file(sys.stdin.buffer), to_answer)
            # The SDK only iterates what it is given, as it iterates an AsyncFile.
            stdin = cast(Any, _Lines(lines))
            async with stdio_server(stdin=stdin) as (read_stream, write_stream):
                low_level = low_level_server(server)
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(_answer, answers, write_stream)
                    # Returns once stdin has ended; by then the screen has closed `to_answer`,
                    # so `_answer` ends as soon as the last refusal is answered.
                    await low_level.run(
                        read_stream, write_stream, low_level.create_initialization_options()
                    )
    finally:
        reset_transport(transport)


class _Lines:
    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines


async def _screened_lines(
    stdin: anyio.AsyncFile[bytes], to_answer: ObjectSendStream[Rejection]
) -> AsyncIterator[str]:
    async with to_answer:
        async for raw in stdin:
            if not raw.strip():
                continue  # a blank line is no message (the SDK skips it too)
            line = raw.decode("utf-8", errors="replace")
            rejection = screen(line)
            if rejection is None:
                yield line
                continue
            # The reason only: the line may hold task text.
            log.warning("refused a message of %d bytes on stdin: %s", len(raw), rejection.message)
            if rejection.answerable:
                await to_answer.send(rejection)


async def _answer(
    answers: ObjectReceiveStream[Rejection], write_stream: ObjectSendStream[SessionMessage]
) -> None:
    async with answers:
        async for rejection in answers:
            error = JSONRPCError(
                jsonrpc="2.0",
                id=rejection.id,
                error=ErrorData(code=rejection.code, message=rejection.message),
            )
            try:
                await write_stream.send(SessionMessage(error))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
