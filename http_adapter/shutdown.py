"""What SIGTERM does to responses still streaming.

On SIGTERM uvicorn stops accepting connections and waits for the open ones to finish. A chat
stream may run far longer than an orchestrator waits, so once the grace period has passed the
streams still running end with an error in their protocol's form instead of being cut off
mid-answer (`chat_routes.TurnStream` and, for the chat UIs, `chat_turns.turn_events` wait on
`Shutdown.wait`), and JSON chat turns with a problem answer: the turn is cancelled as a
deadline would cancel it, so what it did is recorded and nothing half-done is stored. Chat
turns, whatever their protocol, run inside `Shutdown.turn()`, and the lifespan waits for them
(`turns_done`) before it closes the database, so that the record of a turn cancelled at the
last moment is still written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# The key under which the app shares its `Shutdown` with the server (ASGI lifespan state).
SHUTDOWN_STATE = "todo_mcp.shutdown"
# How long the lifespan waits for chat turns to store their record before closing the pool.
TURN_RECORD_WAIT_S = 10.0


class Shutdown:
    """Set by the server when it starts shutting down; streams end `grace_s` later."""

    def __init__(self) -> None:
        self._streams_end = asyncio.Event()
        self._began = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._turns = 0
        self._no_turns = asyncio.Event()
        self._no_turns.set()

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

    @contextmanager
    def turn(self) -> Iterator[None]:
        """A chat turn runs (and records itself) within this block."""
        self._turns += 1
        self._no_turns.clear()
        try:
            yield
        finally:
            self._turns -= 1
            if self._turns == 0:
                self._no_turns.set()

    async def turns_done(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until no chat turn is running."""
        try:
            await asyncio.wait_for(self._no_turns.wait(), timeout_s)
        except TimeoutError:
            log.warning("%d chat turn(s) still running at shutdown", self._turns)
