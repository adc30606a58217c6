"""uvicorn's httptools protocol with the limits a server facing the internet needs.

uvicorn closes idle keep-alive connections and can bound concurrency, but with httptools it has
no deadline for a request's headers or body, none for a client to take its answer, and no limit
on the size of headers: a client sending one header byte a second, 32 MB of headers, or never
reading a large answer holds a connection (and memory) as long as it likes. The h11 protocol has
a size limit but no deadlines either, and parses several times slower, so this keeps httptools
and adds:

- a header deadline, from the moment a connection opens or a request's first byte arrives
  until its headers are complete (408, then the connection is closed);
- a wait budget: the time a connection spends waiting for requests (idle between them, and
  receiving their headers) adds up over all its requests, and past the budget the connection is
  closed (408 if a request's headers were under way), so that a client sending each request
  just under the header deadline cannot keep a connection for good;
- a body deadline, from the request's turn (the end of its headers, or for a pipelined request
  the end of the answer before it) to the end of its body (408, closed);
- a write deadline: an answer the client does not take (the send buffer stays full, or still
  holds bytes once the connection is closing) for the write timeout drops the connection, and
  with it the answer held in memory;
- a header size limit, checked before the bytes reach the parser, so an oversized header is
  refused (431, closed) after at most the limit has been read.

Answers are never written out of order: a request's deadline never answers while an earlier
request of the connection is still being answered (the connection is closed instead). Every
answer made here (400, 408, 431, 503) carries `X-Request-ID` and `nosniff` as the app's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Any, cast

import uvicorn
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from http_adapter.edge_answers import edge_answer, edge_headers, unavailable
from http_adapter.one_write import OneWriteCycle
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
        write_timeout_s: float,
        connection_wait_s: float,
        **options: Any,
    ) -> None:
        super().__init__(app, http=LimitedHttpProtocol, **options)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.max_header_bytes = max_header_bytes
        self.shutdown_grace_s = shutdown_grace_s
        self.write_timeout_s = write_timeout_s
        self.connection_wait_s = connection_wait_s


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
        self._write_timeout_s = config.write_timeout_s
        self._wait_budget_s = config.connection_wait_s
        # Bytes read since the current request began, while its headers are incomplete.
        self._reading_headers = True
        self._header_bytes = 0
        # Between the end of a request's headers and the end of its body.
        self._in_body = False
        # Seconds waited for requests over the connection's life, and since when it waits now.
        self._waited_s = 0.0
        self._waiting_since: float | None = None
        # When the headers of the request being read are due.
        self._headers_due: float | None = None
        # The request's deadline: the one wanted, the one its timer is armed for, and the timer.
        self._wanted: tuple[float, bytes] | None = None
        self._armed: tuple[float, bytes] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._feeding = False
        self._write_deadline: asyncio.TimerHandle | None = None
        # The request whose answer is being written (`self.cycle` is the last one read).
        self._answering: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        self._headers_due = self._waiting_since + self._header_timeout_s
        self._arm_at(min(self._headers_due, self._wait_ends()), _HEADER_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_write()
        self._client_gone()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # Called on every open connection when the server starts shutting down: the app's
        # grace period for running streams starts with the first.
        shutdown = self.app_state.get(SHUTDOWN_STATE)
        if isinstance(shutdown, Shutdown):
            shutdown.begin(self._shutdown_grace_s)
        super().shutdown()
        self._watch_leftover()

    def data_received(self, data: bytes) -> None:
        # The parser's callbacks say which deadline applies; it is set once all is parsed, so
        # that a request read whole does not arm and cancel a timer at each step.
        self._feeding = True
        try:
            self._read(data)
        finally:
            self._feeding = False
            self._apply()

    def _read(self, data: bytes) -> None:
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
        self._read(data[room:])

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own, for bytes that are no HTTP request, with the headers of every answer.
        self.transport.write(edge_answer(400, msg.encode("ascii"), edge_headers()))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        now = self.loop.time()
        if self._waiting_since is None:  # a request right behind the one before
            self._waiting_since = now
        if self._headers_due is None:
            self._headers_due = now + self._header_timeout_s
        self._arm_at(min(self._headers_due, self._wait_ends()), _HEADER_TIMEOUT)

    def on_headers_complete(self) -> None:
        self._disarm()
        if self._waiting_since is not None:
            self._waited_s += self.loop.time() - self._waiting_since
        self._waiting_since = None
        self._headers_due = None
        self._reading_headers = False
        self._in_body = True
        # Starts the request (which arms its body deadline), or queues it behind the one
        # being answered until its turn.
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # uvicorn makes the cycle; its answers are written the way `OneWriteCycle` says.
        cycle.__class__ = OneWriteCycle
        if app is service_unavailable:
            app = cast(ASGI3Application, unavailable)
        super()._start_asgi_task(cycle, app)
        self._answering = cycle
        if cycle is self.cycle and self._in_body:
            self._arm_at(self.loop.time() + self._body_timeout_s, _BODY_TIMEOUT)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_body = False
        self._reading_headers = True
        self._header_bytes = 0
        super().on_message_complete()
        if self.cycle.response_complete:
            # Answered before its body ended: the connection waits for the next request now.
            self._start_idle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            self._watch_leftover()
        elif self.cycle.response_complete and not self._in_body and self._waiting_since is None:
            self._start_idle()

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._watch_leftover()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._arm_write_deadline()

    def resume_writing(self) -> None:
        self._disarm_write()
        super().resume_writing()

    def _start_idle(self) -> None:
        """Nothing to answer, nothing being read: uvicorn's keep-alive timeout runs, and the
        connection's wait budget with it."""
        self._waiting_since = self.loop.time()
        self._arm_at(min(self._waiting_since + self.timeout_keep_alive, self._wait_ends()), b"")

    def _wait_ends(self) -> float:
        assert self._waiting_since is not None
        return self._waiting_since + self._wait_budget_s - self._waited_s

    def _arm_at(self, when: float, reason: bytes) -> None:
        self._wanted = (when, reason)
        if not self._feeding:
            self._apply()

    def _disarm(self) -> None:
        self._wanted = None
        if not self._feeding:
            self._apply()

    def _apply(self) -> None:
        """The deadline timer made to match the one wanted."""
        if self._wanted == self._armed:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._armed = self._wanted
        if self._wanted is not None:
            when, reason = self._wanted
            self._deadline = self.loop.call_at(when, self._too_slow, reason)

    def _too_slow(self, reason: bytes) -> None:
        self._deadline = None
        self._armed = self._wanted = None
        if self.transport.is_closing():
            return
        if reason is not _BODY_TIMEOUT and self._header_bytes == 0:
            # A connection that sent no byte of a request is simply closed, as an idle one is.
            self.transport.close()
            self._watch_leftover()
            return
        log.info("%s Connection closed.", (reason or _HEADER_TIMEOUT).decode())
        self._refuse(408, reason or _HEADER_TIMEOUT)

    def _refuse(self, status: int, reason: bytes) -> None:
        """Answer `status` when nothing else is being written, then close the connection.
        A request already handed to the app sees its client as gone."""
        cycle = self.cycle
        if self._reading_headers:
            # The request has no cycle yet; `cycle` is the previous one's, maybe still sending.
            answer = cycle is None or cycle.response_complete
            request_headers: list[tuple[bytes, bytes]] = []
        else:
            answer = cycle is not None and not cycle.response_started
            request_headers = self.headers
        if answer:
            self.transport.write(edge_answer(status, reason, edge_headers(request_headers)))
        # The app may still answer; nothing more may be written after this.
        self._client_gone()
        self.transport.close()
        self._watch_leftover()

    def _arm_write_deadline(self) -> None:
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self._write_timeout_s, self._not_read)

    def _disarm_write(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _watch_leftover(self) -> None:
        """A closing connection waits until its last bytes are sent: not longer than the write
        deadline, if the client is not reading them."""
        if self.transport.is_closing() and self.transport.get_write_buffer_size():
            self._arm_write_deadline()

    def _not_read(self) -> None:
        self._write_deadline = None
        log.info(
            "The client took nothing of its answer for %g s. Connection dropped.",
            self._write_timeout_s,
        )
        # Reset rather than closed: the kernel would otherwise go on holding the bytes it was
        # given, and trying to send them, for minutes.
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing left to reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._client_gone()
        self.transport.abort()

    def _client_gone(self) -> None:
        """Nothing more may be written: the request being answered (which a pipelined one
        behind it may have replaced as `self.cycle`) and the last one see their client gone."""
        for cycle in (self._answering, self.cycle):
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
