"""What a client can hold of a real `todo-api` through its connection, over raw sockets: an
answer it never reads, requests each sent just under the header deadline, pipelined requests
waiting their turn, and the answers the connection layer writes itself. The limits are set
small here so that each test takes a few seconds."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.support.raw_http import (
    Answer,
    RawServer,
    Reader,
    closed_by_server,
    connect,
    todo_api,
    wait_until,
)

SECRET = "a-secret-for-the-connection-tests-0123456789abcdef"
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
KEEP_ALIVE_S = 1.0
WRITE_TIMEOUT_S = 5.0
CONNECTION_WAIT_S = 4.0
MAX_CONCURRENCY = 6
MAX_HEADER_BYTES = 1024
# How late a deadline may fire on a busy machine and still pass; a client that is never cut
# off is held past it and fails.
SLACK_S = 4.0
# A 1.9 MB file the server sends as it is: four of them fill every buffer between a client
# that does not read and the server.
LARGE = b"/docs/swagger-ui/swagger-ui-bundle.js.map"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def _limited_todo_api(
    directory: Path, database_url: str
) -> contextlib.AbstractContextManager[RawServer]:
    return todo_api(
        directory,
        DATABASE_URL=database_url,
        BETTER_AUTH_SECRET=SECRET,
        HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        HTTP_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        HTTP_KEEP_ALIVE_S=str(KEEP_ALIVE_S),
        HTTP_WRITE_TIMEOUT_S=str(WRITE_TIMEOUT_S),
        HTTP_CONNECTION_WAIT_S=str(CONNECTION_WAIT_S),
        HTTP_MAX_CONCURRENCY=str(MAX_CONCURRENCY),
        HTTP_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    """One server for the tests that write nothing (SQLite)."""
    directory = tmp_path_factory.mktemp("connections")
    with _limited_todo_api(directory, f"sqlite+aiosqlite:///{directory / 'todo.db'}") as running:
        yield running
    assert "Traceback" not in running.output()


@pytest.fixture
def writing_server(database_url: str, tmp_path: Path) -> Iterator[RawServer]:
    """A server of the test's own, on each backend, for a test whose request writes a task."""
    with _limited_todo_api(tmp_path, database_url) as running:
        yield running
    assert "Traceback" not in running.output()


def _get(path: bytes) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path


def _create(body: bytes, *, request_id: str = "create-1") -> bytes:
    """The head of `POST /api/alice/tasks` for `body`."""
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, SECRET, algorithm="HS256")
    return (
        f"POST /api/alice/tasks HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: {request_id}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()


def _answers(reader: Reader) -> list[Answer]:
    answers = []
    while (answer := reader.answer()) is not None:
        answers.append(answer)
    return answers


def _assert_edge_answer(answer: Answer | None, status: int, request_id: str | None = None) -> None:
    """`answer` is `status` with the headers every answer carries."""
    assert answer is not None, "no answer"
    assert answer.status == status
    if request_id is None:
        assert GENERATED_ID.fullmatch(answer.headers["x-request-id"]), answer.headers
    else:
        assert answer.headers["x-request-id"] == request_id
    assert answer.headers["x-content-type-options"] == "nosniff"


# --- answers a client does not take -------------------------------------------------------------


def test_a_client_that_never_reads_a_large_answer_is_dropped(server: RawServer) -> None:
    with connect(server.port, receive_buffer=4096) as sock:
        sock.sendall(_get(LARGE) * 4)
        started = time.monotonic()
        closed = wait_until(lambda: closed_by_server(sock), WRITE_TIMEOUT_S + SLACK_S)
        held = time.monotonic() - started

    assert closed, "the connection was still open"
    assert held >= WRITE_TIMEOUT_S * 0.9
    assert "took nothing of its answer" in server.output()


def test_answers_with_and_without_a_body_follow_each_other_on_one_connection(
    server: RawServer,
) -> None:
    # Each answer's head goes out with its body, or alone when there is none (HEAD, 304):
    # nothing of one answer may be held back into the next.
    with connect(server.port) as sock:
        reader = Reader(sock)
        sock.sendall(b"HEAD /livez HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = reader.answer_to_head()
        sock.sendall(_get(b"/livez"))
        get = reader.answer()

    assert head is not None
    assert head.status == 200
    assert get is not None
    assert get.status == 200
    assert json.loads(get.body) == {"status": "ok"}


# --- requests sent slowly, one after another ----------------------------------------------------


def test_a_client_sending_each_request_just_under_the_header_deadline_is_closed(
    server: RawServer,
) -> None:
    request = _get(b"/livez")
    pieces = [request[i : i + 10] for i in range(0, len(request), 10)]
    answered = 0
    with connect(server.port) as sock:
        reader = Reader(sock)
        started = time.monotonic()
        while time.monotonic() - started < CONNECTION_WAIT_S + SLACK_S:
            try:
                for piece in pieces:
                    # The slow client's pace: the whole request in 0.6 of the header deadline.
                    time.sleep(HEADER_TIMEOUT_S * 0.6 / len(pieces))
                    sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            answer = reader.answer()
            if answer is None or answer.status != 200:
                break
            answered += 1
        closed = wait_until(lambda: closed_by_server(sock), SLACK_S)
        held = time.monotonic() - started

    assert answered >= 2  # each request alone was in time
    assert closed, f"still open after {held:.1f} s and {answered} requests"
    assert held <= CONNECTION_WAIT_S + SLACK_S


# --- pipelining ---------------------------------------------------------------------------------


def test_a_pipelined_requests_body_deadline_starts_at_its_turn(
    writing_server: RawServer,
) -> None:
    server = writing_server
    body = json.dumps({"title": "pipelined behind large answers"}).encode()
    with connect(server.port, receive_buffer=4096) as sock:
        sock.sendall(_get(LARGE) * 4 + _create(body, request_id="pipelined-1") + body[:5])
        time.sleep(BODY_TIMEOUT_S * 2.5)  # the client takes its answers late
        assert "POST /api/" not in server.output()  # the create still waits its turn
        reader = Reader(sock)
        answers = [reader.answer() for _ in range(4)]
        # Its turn has come: the rest of its body, in time from now.
        sock.sendall(body[5:])
        answers.append(reader.answer())

    assert [answer.status if answer else None for answer in answers] == [200] * 4 + [201]
    assert answers[-1] is not None
    assert json.loads(answers[-1].body)["title"] == "pipelined behind large answers"


def test_a_pipelined_requests_408_comes_after_the_answers_before_it(server: RawServer) -> None:
    body = json.dumps({"title": "never finished"}).encode()
    with connect(server.port, receive_buffer=4096) as sock:
        sock.sendall(_get(LARGE) * 4 + _create(body, request_id="pipelined-2") + body[:5])
        time.sleep(BODY_TIMEOUT_S * 2.5)  # the client takes its answers late
        reader = Reader(sock)
        answers = _answers(reader)
        rest = reader.rest()

    assert [answer.status for answer in answers] == [200, 200, 200, 200, 408]
    assert all(len(answer.body) > 1_000_000 for answer in answers[:4])
    _assert_edge_answer(answers[-1], 408, "pipelined-2")
    assert rest == b""


# --- answers of the connection layer ------------------------------------------------------------


def test_bytes_that_are_no_http_request_get_400_with_the_headers_of_every_answer(
    server: RawServer,
) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = Reader(sock).answer()

    _assert_edge_answer(answer, 400)


def test_headers_too_slow_get_408_with_the_headers_of_every_answer(server: RawServer) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\n")
        answer = Reader(sock).answer()

    _assert_edge_answer(answer, 408)


def test_headers_too_large_get_431_with_the_headers_of_every_answer(server: RawServer) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 1500)
        answer = Reader(sock).answer()

    _assert_edge_answer(answer, 431)


def test_past_the_concurrency_limit_503_has_the_headers_of_every_answer(
    server: RawServer,
) -> None:
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(MAX_CONCURRENCY)]
    try:
        with connect(server.port) as sock:
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: busy-1\r\n\r\n")
            answer = Reader(sock).answer()
    finally:
        for sock in held:
            sock.close()

    _assert_edge_answer(answer, 503, "busy-1")


def test_an_mcp_body_cut_short_by_the_client_is_a_408_not_an_error(server: RawServer) -> None:
    token = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, SECRET, algorithm="HS256")
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    with connect(server.port) as sock:
        sock.sendall(head + b'{"jsonrpc"')
    logged = wait_until(lambda: re.search(r"POST /mcp (\d+)", server.output()), SLACK_S)

    assert logged is not None, server.output()
    assert logged.group(1) == "408"
    assert " ERROR " not in server.output()
