"""What SIGTERM does to responses still streaming.

On SIGTERM uvicorn stops accepting connections and waits for the open ones to finish. A chat
stream may run far longer than an orchestrator waits, so once the grace period has passed the
streams still running end with an SSE `error` event instead of being cut off mid-answer: the
turn is cancelled exactly as when its client leaves, so nothing half-done is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

# The key under which the app shares its `Shutdown` with the server (ASGI lifespan state).
SHUTDOWN_STATE = "todo_mcp.shutdown"

Item = TypeVar("Item")


class Shutdown:
    """Set by the server when it starts shutting down; streams end `grace_s` later."""

    def __init__(self) -> None:
        self._streams_end = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    def begin(self, grace_s: float) -> None:
        """Start the grace period (later calls do nothing)."""
        if self._timer is not None or self._streams_end.is_set():
            return
        log.info("shutting down: running requests have %g s to finish", grace_s)
        self._timer = asyncio.get_running_loop().call_later(grace_s, self.end_streams)

    def end_streams(self) -> None:
        self._streams_end.set()

    async def wait(self) -> None:
        await self._streams_end.wait()


async def until_shutdown(
    items: AsyncIterator[Item], shutdown: Shutdown, last: Callable[[], Item]
) -> AsyncIterator[Item]:
    """`items`, until they end or `shutdown` ends streams: then `last()` and no more.

    Each step of `items` runs in a task of its own so that it can be raced against the
    shutdown; all those tasks share one context, so context variables set by `items` carry
    from one step to the next as they would in a plain `async for`.
    """
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    ending = loop.create_task(shutdown.wait())
    step: asyncio.Task[Item] | None = None
    try:
        while True:
            step = loop.create_task(_next(items), context=context)
            await asyncio.wait({step, ending}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                break
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            step = None
            yield item
        step.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await step
        step = None
        log.info("a response stream was ended by the shutdown")
        yield last()
    finally:
        ending.cancel()
        if step is not None and not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await step
        await loop.create_task(_close(items), context=context)


async def _next(items: AsyncIterator[Item]) -> Item:
    return await items.__anext__()


async def _close(items: AsyncIterator[Item]) -> None:
    close = getattr(items, "aclose", None)
    if close is not None:
        await close()
