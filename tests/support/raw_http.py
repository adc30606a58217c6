"""HTTP/1.1 over raw sockets against a real `todo-api`, for what only the connection shows:
deadlines, pipelining, answers a client never reads. Blocking sockets, each with a timeout, so
a server that never answers fails the test instead of hanging it."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S, STOP_S

TODO_API = Path(sys.executable).parent / "todo-api"
SOCKET_TIMEOUT_S = 15.0
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
_TCP_ESTABLISHED = 1
T = TypeVar("T")


@dataclass(frozen=True)
class RawServer:
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def todo_api(directory: Path, **settings: str) -> Iterator[RawServer]:
    """`todo-api --port 0` with `settings`, its output in `directory/server.log`; stopped with
    SIGTERM at the end, which it must survive with exit status 0."""
    log = directory / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(TODO_API), "--port", "0"],
            env=clean_environment(directory / "data", **settings),
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            found = wait_until(
                lambda: (
                    _LISTENING.search(log.read_text(errors="replace")) or process.poll() is not None
                ),
                STARTUP_S,
            )
            assert isinstance(found, re.Match), "todo-api did not serve:\n" + log.read_text()
            yield RawServer(int(found.group(1)), log)
        finally:
            process.terminate()
            assert process.wait(STOP_S) == 0


def wait_until(check: Callable[[], T], within_s: float, every_s: float = 0.05) -> T:
    """The first true value of `check()`, polled until `within_s` has passed (then its last)."""
    deadline = time.monotonic() + within_s
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(every_s)  # polls; the deadline bounds it
    return value


@contextlib.contextmanager
def connect(port: int, receive_buffer: int | None = None) -> Iterator[socket.socket]:
    """A connection to the server; `receive_buffer` shrinks what the kernel takes in for a
    client that does not read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(SOCKET_TIMEOUT_S)
        sock.connect(("127.0.0.1", port))
        yield sock
    finally:
        sock.close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Reader:
    """Answers read one after another from a connection (Content-Length bodies)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._data = b""

    def _more(self) -> bool:
        try:
            chunk = self._sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        self._data += chunk
        return bool(chunk)

    def answer(self) -> Answer | None:
        """The next answer, or None if the connection closed before a whole one came."""
        return self._answer(with_body=True)

    def answer_to_head(self) -> Answer | None:
        """The next answer, to a HEAD request: its `Content-Length` names a body never sent."""
        return self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> Answer | None:
        while b"\r\n\r\n" not in self._data:
            if not self._more():
                return None
        head, _, self._data = self._data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0")) if with_body else 0
        while len(self._data) < length:
            if not self._more():
                return None
        body, self._data = self._data[:length], self._data[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def rest(self) -> bytes:
        """Whatever else the server sends until it closes the connection."""
        while self._more():
            pass
        rest, self._data = self._data, b""
        return rest


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed (FIN) or dropped (RST) the connection, without reading
    what it sent."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return info[0] != _TCP_ESTABLISHED
