"""uvicorn's httptools protocol with the limits a server facing the internet needs.

uvicorn closes idle keep-alive connections and can bound concurrency, but with httptools it has
no deadline for a request's headers or body and no limit on their size: a client sending one
header byte a second, or 32 MB of headers, holds a connection (and memory) as long as it likes.
The h11 protocol has a size limit but no deadlines either, and parses several times slower, so
this keeps httptools and adds:

- a header deadline, from the moment a connection opens or a request's first byte arrives
  until its headers are complete (408, then the connection is closed);
- a body deadline, from the end of the headers to the end of the body (408, closed);
- a header size limit, checked before the bytes reach the parser, so an oversized header is
  refused (431, closed) after at most the limit has been read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from http_adapter.shutdown import SHUTDOWN_STATE, Shutdown

log = logging.getLogger(__name__)

_BODY_TIMEOUT = b"The request body did not arrive in time."
_HEADER_TIMEOUT = b"The request headers did not arrive in time."
_HEADER_TOO_LARGE = b"The request headers are too large."


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the limits of `LimitedHttpProtocol` (a subclass, so that
    it travels to worker processes with the rest of the configuration)."""

    def __init__(
        self,
        app: Any,
        *,
        header_timeout_s: float,
        body_timeout_s: float,
        max_header_bytes: int,
        shutdown_grace_s: float,
        **options: Any,
    ) -> None:
        super().__init__(app, http=LimitedHttpProtocol, **options)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.max_header_bytes = max_header_bytes
        self.shutdown_grace_s = shutdown_grace_s


class LimitedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServerConfig)
        self._header_timeout_s = config.header_timeout_s
        self._body_timeout_s = config.body_timeout_s
        self._max_header_bytes = config.max_header_bytes
        self._shutdown_grace_s = config.shutdown_grace_s
        # Bytes read since the current request began, while its headers are incomplete.
        self._reading_headers = True
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout_s, _HEADER_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # Called on every open connection when the server starts shutting down: the app's
        # grace period for running streams starts with the first.
        shutdown = self.app_state.get(SHUTDOWN_STATE)
        if isinstance(shutdown, Shutdown):
            shutdown.begin(self._shutdown_grace_s)
        super().shutdown()

    def data_received(self, data: bytes) -> None:
        if not self._reading_headers:
            super().data_received(data)
            return
        room = self._max_header_bytes - self._header_bytes
        if len(data) <= room:
            self._header_bytes += len(data)
            super().data_received(data)
            return
        # Only what fits goes to the parser: if the headers end within it, the rest is body
        # (or the next request); if not, they are too large and nothing more is read.
        self._header_bytes += room
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._reading_headers:
            log.warning("request headers over %d bytes refused", self._max_header_bytes)
            self._refuse(431, _HEADER_TOO_LARGE)
            return
        self.data_received(data[room:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self._header_timeout_s, _HEADER_TIMEOUT)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._arm(self._body_timeout_s, _BODY_TIMEOUT)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_headers = True
        self._header_bytes = 0
        super().on_message_complete()

    def _arm(self, seconds: float, reason: bytes) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, reason)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, reason: bytes) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if reason is _HEADER_TIMEOUT and self._header_bytes == 0:
            # A connection that never sent a byte is simply closed, as an idle one is.
            self.transport.close()
            return
        log.info("%s Connection closed.", reason.decode())
        self._refuse(408, reason)

    def _refuse(self, status: int, reason: bytes) -> None:
        """Answer `status` when nothing else is being written, then close the connection.
        A request already handed to the app sees its client as gone."""
        cycle = self.cycle
        if self._reading_headers:
            # The request has no cycle yet; `cycle` is the previous one's, maybe still sending.
            answer = cycle is None or cycle.response_complete
        else:
            answer = cycle is not None and not cycle.response_started
        if answer:
            phrase = b"Request Timeout" if status == 408 else b"Request Header Fields Too Large"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, phrase, len(reason), reason)
            )
        if cycle is not None and not cycle.response_complete:
            # The app may still answer; nothing more may be written after this.
            cycle.disconnected = True
        self.transport.close()
