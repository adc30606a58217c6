"""What SIGTERM does to responses still streaming.

On SIGTERM uvicorn stops accepting connections and waits for the open ones to finish. A chat
stream may run far longer than an orchestrator waits, so once the grace period has passed the
streams still running end with an SSE `error` event instead of being cut off mid-answer
(`chat_routes.TurnStream` waits on `Shutdown.wait`): the turn is cancelled as a deadline
would cancel it, so what it did is recorded and nothing half-done is stored.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# The key under which the app shares its `Shutdown` with the server (ASGI lifespan state).
SHUTDOWN_STATE = "todo_mcp.shutdown"


class Shutdown:
    """Set by the server when it starts shutting down; streams end `grace_s` later."""

    def __init__(self) -> None:
        self._streams_end = asyncio.Event()
        self._began = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    def begin(self, grace_s: float) -> None:
        """Start the grace period (later calls do nothing)."""
        if self._timer is not None or self._streams_end.is_set():
            return
        log.info("shutting down: running requests have %g s to finish", grace_s)
        self._began.set()
        self._timer = asyncio.get_running_loop().call_later(grace_s, self.end_streams)

    def end_streams(self) -> None:
        self._streams_end.set()

    async def wait(self) -> None:
        await self._streams_end.wait()

    async def wait_begun(self) -> None:
        """Until SIGTERM: live event streams end at once (they have nothing to finish, and
        their clients reconnect to another process)."""
        await self._began.wait()
