"""A local fake of the Gemini API, speaking the wire format the google-genai SDK uses.

It serves `POST /{version}/models/{model}:generateContent` (JSON) and
`...:streamGenerateContent?alt=sse` (Server-Sent Events, `data: {json}\\r\\n\\r\\n` chunks) on
127.0.0.1 from a background thread, so the real SDK talks to it over real HTTP. The installed SDK
(google-genai 3.x) calls version `v1` when given a custom base URL; any version is accepted and
recorded.

Each test scripts the answers: a queue of actions (`fake.queue(call(...), text(...))`), and/or a
function of the request it received (`fake.respond(lambda request: ...)`), used once the queue is
empty. An action is a model reply (`text`, `call`, `calls`), an HTTP error (`Fail`), a hang
(`Hang`) or a stream that breaks part-way (`BreakStream`). Every request body is recorded in
`fake.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

# google.rpc status names of the errors a test may ask for.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

Part = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """A successful answer. Streamed, each chunk is one SSE event; otherwise all parts form one
    content (adjacent text pieces joined, as the API does)."""

    chunks: tuple[tuple[Part, ...], ...]
    finish_reason: str = "STOP"

    def body(self) -> dict[str, Any]:
        parts: list[Part] = []
        for part in itertools.chain.from_iterable(self.chunks):
            if "text" in part and len(part) == 1 and parts and set(parts[-1]) == {"text"}:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(dict(part))
        return _response(parts, self.finish_reason)

    def chunk_bodies(self) -> list[dict[str, Any]]:
        last = len(self.chunks) - 1
        return [
            _response(list(chunk), self.finish_reason if n == last else None)
            for n, chunk in enumerate(self.chunks)
        ]


@dataclass(frozen=True)
class Fail:
    """An HTTP error answer, in the API's `{"error": {...}}` shape."""

    status: int
    message: str = "The fake model failed on purpose."
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "status": _STATUS_NAMES.get(self.status, "UNKNOWN"),
            }
        }


@dataclass(frozen=True)
class Hang:
    """No answer until the fake stops or `seconds` pass (then a 504)."""

    seconds: float = 30.0


@dataclass(frozen=True)
class BreakStream:
    """Stream the chunks of `before`, then an error event (`error`) or, with `error=None`, cut
    the connection. A non-streaming request gets `error` (or a 500) straight away."""

    before: Reply
    error: Fail | None = None


Action = Reply | Fail | Hang | BreakStream
Responder = Callable[["ModelRequest"], Action]

_call_ids = itertools.count(1)


def text(*pieces: str) -> Reply:
    """A text answer; streamed, one chunk per piece."""
    return Reply(tuple(({"text": piece},) for piece in pieces))


def call(name: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None) -> Reply:
    """An answer that calls one function."""
    return calls((name, args or {}), call_id=call_id)


def calls(*wanted: tuple[str, Mapping[str, Any]], call_id: str | None = None) -> Reply:
    """An answer that calls several functions at once (ids `call_id`, `call_id-2`, ...)."""
    parts: list[Part] = []
    for n, (name, args) in enumerate(wanted, start=1):
        base = call_id or f"fc-{next(_call_ids)}"
        parts.append(
            {"functionCall": {"id": base if n == 1 else f"{base}-{n}", "name": name, "args": args}}
        )
    return Reply((tuple(parts),))


def _response(parts: list[Part], finish_reason: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    return {"candidates": [candidate], "modelVersion": "fake-gemini"}


@dataclass(frozen=True)
class ModelRequest:
    """One request the fake received."""

    version: str
    model: str
    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    @property
    def contents(self) -> list[dict[str, Any]]:
        contents: list[dict[str, Any]] = self.body.get("contents", [])
        return contents

    @property
    def system_instruction(self) -> str:
        instruction = self.body.get("systemInstruction") or {}
        return "".join(part.get("text", "") for part in instruction.get("parts", []))

    @property
    def declarations(self) -> list[dict[str, Any]]:
        return [
            declaration
            for tool in self.body.get("tools", [])
            for declaration in tool.get("functionDeclarations", [])
        ]

    def function_responses(self) -> list[dict[str, Any]]:
        """The function responses of the last content (what the agent just sent back)."""
        if not self.contents:
            return []
        return [
            part["functionResponse"]
            for part in self.contents[-1].get("parts", [])
            if "functionResponse" in part
        ]

    def last_user_text(self) -> str:
        for content in reversed(self.contents):
            texts = [p["text"] for p in content.get("parts", []) if "text" in p]
            if content.get("role") == "user" and texts:
                return "".join(texts)
        return ""


class _Server(uvicorn.Server):
    """uvicorn that says when its sockets are being served."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


class FakeGemini:
    """The fake model server. Use as a context manager: it listens between enter and exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: deque[Action] = deque()
        self._responder: Responder | None = None
        self._requests: list[ModelRequest] = []
        self.unscripted = 0
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self.url = ""

    # Scripting

    def queue(self, *actions: Action) -> None:
        """Answer the next requests with these actions, in order."""
        with self._lock:
            self._actions.extend(actions)

    def respond(self, responder: Responder) -> None:
        """Answer each request the queue does not cover with `responder(request)`."""
        with self._lock:
            self._responder = responder

    @property
    def requests(self) -> list[ModelRequest]:
        with self._lock:
            return list(self._requests)

    def _next(self, request: ModelRequest) -> Action:
        with self._lock:
            self._requests.append(request)
            if self._actions:
                return self._actions.popleft()
            responder = self._responder
            if responder is None:
                self.unscripted += 1
                return Fail(500, "fake Gemini: no answer was scripted for this request")
        return responder(request)

    # Serving

    def _app(self) -> Starlette:
        async def generate(request: Request) -> Response:
            model, _, method = request.path_params["model_method"].partition(":")
            received = ModelRequest(
                version=request.path_params["version"],
                model=model,
                method=method,
                query=dict(request.query_params),
                headers=dict(request.headers),
                body=json.loads(await request.body()),
            )
            action = self._next(received)
            if isinstance(action, Hang):
                assert self._release is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), action.seconds)
                return _error_response(Fail(504, "fake Gemini: hung"))
            if isinstance(action, Fail):
                return _error_response(action)
            if isinstance(action, BreakStream) and not received.stream:
                return _error_response(action.error or Fail(500))
            if not received.stream:
                assert isinstance(action, Reply)
                return JSONResponse(action.body())
            return StreamingResponse(_sse(action), media_type="text/event-stream")

        return Starlette(
            routes=[Route("/{version}/models/{model_method}", generate, methods=["POST"])]
        )

    def start(self) -> None:
        # proto=IPPROTO_TCP, or asyncio leaves Nagle on for accepted connections (its
        # `_set_nodelay` checks the proto) and every answer waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self._socket = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        ready = threading.Event()
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config, ready)
        self._thread = threading.Thread(target=self._run, name="fake-gemini", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"the fake Gemini server did not start in {START_TIMEOUT_S} s")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        await self._server.serve(sockets=[self._socket])

    def stop(self) -> None:
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():
                raise RuntimeError(f"the fake Gemini server did not stop in {STOP_TIMEOUT_S} s")
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _error_response(fail: Fail) -> Response:
    return JSONResponse(fail.body(), status_code=fail.status, headers=dict(fail.headers))


def _sse_event(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body)}\r\n\r\n".encode()


async def _sse(action: Reply | BreakStream) -> AsyncIterator[bytes]:
    reply = action.before if isinstance(action, BreakStream) else action
    for chunk in reply.chunk_bodies():
        yield _sse_event(chunk)
    if isinstance(action, BreakStream):
        if action.error is None:
            raise ConnectionAbortedError("fake Gemini: stream cut on purpose")
        yield _sse_event(action.error.body())


def function_calls(contents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every functionCall part in `contents`, in order."""
    return [
        part["functionCall"]
        for content in contents
        for part in content.get("parts", [])
        if "functionCall" in part
    ]
