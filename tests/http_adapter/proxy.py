"""A round-robin TCP proxy for tests: each new connection goes to the next backend, as a load
balancer would send it. Clients that open a connection per request (no keep-alive) therefore
spread their requests over every backend."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_CHUNK = 64 * 1024


class RoundRobinProxy:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self._backends = backends
        self._next = itertools.cycle(range(len(backends)))
        # Connections each backend got, by its index: a test can check both were used.
        self.connections: Counter[int] = Counter()
        self.port = 0

    def route_to(self, backends: list[tuple[str, int]]) -> None:
        """Set the backends once they are known (they may need the proxy's own address, as
        the `Host` they are reached by)."""
        self._backends = backends
        self._next = itertools.cycle(range(len(backends)))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = next(self._next)
        self.connections[index] += 1
        host, port = self._backends[index]
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            writer.close()


@asynccontextmanager
async def round_robin_proxy(backends: list[tuple[str, int]]) -> AsyncIterator[RoundRobinProxy]:
    """The proxy listening on 127.0.0.1 (port 0: the system picks a free one)."""
    proxy = RoundRobinProxy(backends)
    server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        await server.wait_closed()
