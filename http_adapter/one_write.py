"""Answers written in one piece: the head of an answer with its body.

uvicorn writes an answer's head (status line and headers) as soon as the app starts it, and the
body when it comes. Each write is a system call that hands the bytes to the kernel and wakes
the client, and under load it was the largest single cost of a small JSON answer
(`bench/README.md`). `LimitedHttpProtocol` makes its cycles `OneWriteCycle`s."""

from __future__ import annotations

import asyncio

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, but an answer with a `Content-Length` goes out in one
    write, its head with its body, where uvicorn writes the head as soon as the app starts the
    answer: one system call instead of two for every answer of the API. Streamed answers
    (chunked, such as the chat's events) still have their head written at once."""

    _held = b""

    async def send(self, message: ASGISendEvent) -> None:
        # Waited for here, so that uvicorn's send runs through without a pause while the
        # stand-in below is its transport.
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        transport = self.transport
        starting = not self.response_started
        stand_in = _HeldHead(transport, self._held, hold=starting)
        self._held = b""
        self.transport = stand_in  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
        if not stand_in.head or self.disconnected or transport.is_closing():
            return
        if starting and self.chunked_encoding is False and not self.response_complete:
            self._held = stand_in.head
        else:
            transport.write(stand_in.head)


class _HeldHead:
    """The transport as uvicorn's send sees it: what it writes while `hold` is kept, and what
    was kept goes out in front of the next write."""

    def __init__(self, transport: asyncio.Transport, head: bytes, *, hold: bool) -> None:
        self._transport = transport
        self.head = head
        self._hold = hold

    def write(self, data: bytes) -> None:
        if self._hold:
            self.head += data
        else:
            self._transport.write(self.head + data)
            self.head = b""

    def close(self) -> None:
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()
