"""A chat turn answered as Server-Sent Events, whatever the protocol: the answer starts at once,
a comment line (`: keep-alive`) goes out after `keepalive_s` of silence so that proxies do not
close a connection whose model is still thinking, and the client's leaving is noticed while
nothing is sent. Conforming SSE readers ignore comment lines (the `ai` package's parser and
ChatKit's included), so every protocol can have them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Mapping

import anyio
from anyio.abc import TaskGroup
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

KEEP_ALIVE = b": keep-alive\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class SseResponse(Response):
    """The frame of an SSE answer; `stream` writes the events with `write`, and may start
    tasks that last as long as the answer in `tasks`."""

    tasks: TaskGroup

    def __init__(self, keepalive_s: float, headers: Mapping[str, str] | None = None) -> None:
        # As StreamingResponse does: no body, so no `content-length: 0` that would end the
        # answer for the client before the first event.
        self.status_code = 200
        self.media_type = "text/event-stream"
        self.background = None
        self.init_headers({**SSE_HEADERS, **(headers or {})})
        self.keepalive_s = keepalive_s
        self.client_left = False
        self._send: Send | None = None
        # Uncontended (the keep-alive rarely writes at the same moment): no checkpoint, which
        # would cost every frame a trip through the event loop.
        self._lock = anyio.Lock(fast_acquire=True)
        self._last_sent = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with anyio.create_task_group() as background:
            self.tasks = background
            background.start_soon(self._keep_alive)
            background.start_soon(self._watch_client, receive, background.cancel_scope)
            try:
                await self.stream()
            finally:
                background.cancel_scope.cancel()
        await self.write(b"", more_body=False)

    async def stream(self) -> None:
        raise NotImplementedError

    def on_client_left(self, answer: anyio.CancelScope) -> None:
        """What the client's leaving does to the answer (`answer` covers it all): by default
        nothing, the events are dropped."""

    async def write(self, chunk: bytes, *, more_body: bool = True) -> None:
        assert self._send is not None
        async with self._lock:
            self._last_sent = time.monotonic()
            if self.client_left:
                return
            try:
                await self._send(
                    {"type": "http.response.body", "body": chunk, "more_body": more_body}
                )
            except OSError:  # the client left (ASGI 2.4 servers say so when sending)
                self.client_left = True

    async def _keep_alive(self) -> None:
        while True:
            await anyio.sleep(max(0.0, self._last_sent + self.keepalive_s - time.monotonic()))
            if time.monotonic() - self._last_sent >= self.keepalive_s:
                await self.write(KEEP_ALIVE)

    async def _watch_client(self, receive: Receive, answer: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.client_left = True
        self.on_client_left(answer)


class FrameStream(SseResponse):
    """Frames made elsewhere (a chat UI protocol's events), sent as they come. A client that
    leaves stops the answer, and with it the turn: these protocols' clients close the stream
    when the user stops the answer."""

    def __init__(
        self,
        frames: AsyncIterable[bytes],
        keepalive_s: float,
        headers: Mapping[str, str] | None = None,
        *,
        on_end: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(keepalive_s, headers)
        self.frames = frames
        # Runs when the answer ends, however: a turn whose frames stopped before it began
        # (the client left after the first frame) is abandoned there.
        self.on_end = on_end

    async def stream(self) -> None:
        frames = aiter(self.frames)
        try:
            async for frame in frames:
                await self.write(frame)
                if self.client_left:
                    return
        except Exception:
            # The protocol tells every failure it foresaw in its own form; this one it did
            # not: the answer ends here, and the log says why.
            log.exception("a chat stream failed")
        finally:
            if isinstance(frames, AsyncGenerator):
                await frames.aclose()
            if self.on_end is not None:
                await self.on_end()

    def on_client_left(self, answer: anyio.CancelScope) -> None:
        answer.cancel()
