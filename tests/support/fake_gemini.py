"""A local fake of the Gemini API, speaking the wire format the google-genai SDK uses.

It serves `POST /{version}/models/{model}:generateContent` (JSON) and
`...:streamGenerateContent?alt=sse` (Server-Sent Events, `data: {json}\\r\\n\\r\\n` chunks) on
127.0.0.1 from a background thread, so the real SDK talks to it over real HTTP. The installed SDK
(google-genai 3.x) calls version `v1` when given a custom base URL; any version is accepted and
recorded.

Each test scripts the answers: a queue of actions (`fake.queue(call(...), text(...))`), and/or a
function of the request it received (`fake.respond(lambda request: ...)`), used once the queue is
empty. An action is a model reply (`text`, `call`, `calls`, `empty`, `blocked`, `malformed`),
an HTTP error (`Fail`), a hang (`Hang`) or a stream that breaks part-way (`BreakStream`). Every
request body is recorded in `fake.requests`.

Like Gemini 3, the fake signs every function-call part it sends (`thoughtSignature`) and answers
400 to a request whose current turn (the contents after the user's last text) holds one of its
function calls without that signature. Like the real API, it also answers 400, with the API's
own words, to contents that are not well formed: a model turn of function calls not followed by
a user turn holding exactly one response per call (same names, same ids), a function response
turn that does not follow a function call turn, or a function call turn that follows neither a
user turn nor a function response turn. Answers carry `usageMetadata` (about 4 characters a
token).
"""

from __future__ import annotations

import asyncio
import base64
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

from tests.support.deadlines import deadline

START_TIMEOUT_S = deadline(30)
STOP_TIMEOUT_S = deadline(30)

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
    prompt_block: str | None = None  # a blocked prompt: no candidate, `promptFeedback` instead

    def body(self) -> dict[str, Any]:
        parts: list[Part] = []
        for part in itertools.chain.from_iterable(self.chunks):
            if "text" in part and len(part) == 1 and parts and set(parts[-1]) == {"text"}:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(dict(part))
        return self._response(parts, self.finish_reason)

    def chunk_bodies(self) -> list[dict[str, Any]]:
        chunks = self.chunks or ((),)
        last = len(chunks) - 1
        return [
            self._response(list(chunk), self.finish_reason if n == last else None)
            for n, chunk in enumerate(chunks)
        ]

    def _response(self, parts: list[Part], finish_reason: str | None) -> dict[str, Any]:
        if self.prompt_block is not None:
            return {"promptFeedback": {"blockReason": self.prompt_block}, "modelVersion": "fake"}
        return _response(parts, finish_reason)


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
    """No answer until the fake stops; then a successful (late) text answer, so that a client
    that does not give up on its own gets a 200, not an error it would have made itself."""


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
        part_id = base if n == 1 else f"{base}-{n}"
        parts.append(
            {
                "functionCall": {"id": part_id, "name": name, "args": args},
                "thoughtSignature": signature(part_id),
            }
        )
    return Reply((tuple(parts),))


def empty() -> Reply:
    """An answer with no parts at all."""
    return Reply(())


def malformed() -> Reply:
    """What the API sends when the model wrote a function call it could not parse."""
    return Reply((), finish_reason="MALFORMED_FUNCTION_CALL")


def blocked(finish_reason: str = "SAFETY") -> Reply:
    """An answer withheld by the safety filters."""
    return Reply((), finish_reason=finish_reason)


def prompt_blocked(reason: str = "SAFETY") -> Reply:
    """A prompt refused by the safety filters: no candidate at all."""
    return Reply((), prompt_block=reason)


def signature(call_id: str) -> str:
    """The thought signature the fake gives the function call `call_id` (base64, as on the
    wire)."""
    return base64.b64encode(f"fake-signature:{call_id}".encode()).decode()


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

    def tool_mode(self) -> str | None:
        """The function-calling mode the request set (`AUTO`, `NONE`, ...), if any."""
        config = self.body.get("toolConfig", {}).get("functionCallingConfig", {})
        mode: str | None = config.get("mode")
        return mode

    def unsigned_calls(self) -> list[str]:
        """Ids of function calls of the current turn sent back without the signature the fake
        gave them (the current turn starts after the last user content with text)."""
        start = 0
        for n, content in enumerate(self.contents):
            if content.get("role") == "user" and any("text" in p for p in content["parts"]):
                start = n + 1
        unsigned: list[str] = []
        for content in self.contents[start:]:
            for part in content.get("parts", []):
                call_id = part.get("functionCall", {}).get("id")
                if call_id and part.get("thoughtSignature") != signature(call_id):
                    unsigned.append(call_id)
        return unsigned

    def malformed_contents(self) -> str | None:
        """What the real API says of these contents when they are not well formed, or None."""
        contents = self.contents
        for n, content in enumerate(contents):
            parts = content.get("parts", [])
            calls = [p["functionCall"] for p in parts if "functionCall" in p]
            responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
            previous = contents[n - 1] if n > 0 else None
            if responses and not (previous and _calls_of(previous)):
                return _RESPONSE_WITHOUT_CALL
            if not calls:
                continue
            if content.get("role") != "model" or previous is None or previous.get("role") != "user":
                return _CALL_OUT_OF_PLACE
            following = contents[n + 1] if n + 1 < len(contents) else None
            answered = []
            if following is not None and following.get("role") == "user":
                parts = following.get("parts", [])
                answered = [p["functionResponse"] for p in parts if "functionResponse" in p]
            if not _pairs(calls, answered):
                return _UNPAIRED_CALLS
        return None

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
        self._arrived = threading.Condition(self._lock)
        self._actions: deque[Action] = deque()
        self._responder: Responder | None = None
        self._requests: list[ModelRequest] = []
        self.unscripted = 0
        self.refused: list[str] = []  # why each refused request was refused
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

    def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> None:
        """Block until the fake has received `count` requests (at most `timeout_s`)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout_s):
                raise TimeoutError(f"the fake model got {len(self._requests)} of {count} requests")

    def _next(self, request: ModelRequest) -> Action:
        with self._lock:
            self._requests.append(request)
            self._arrived.notify_all()
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
            unsigned = received.unsigned_calls()
            refusal = received.malformed_contents()
            if unsigned:
                refusal = _MISSING_SIGNATURE.format(unsigned[0])
            if refusal is not None:
                with self._lock:
                    self._requests.append(received)
                    self.refused.append(refusal)
                    self._arrived.notify_all()
                return _error_response(Fail(400, refusal))
            action = self._next(received)
            if isinstance(action, Hang):
                assert self._release is not None
                await self._release.wait()
                action = text("A late answer.")
            if isinstance(action, Fail):
                return _error_response(action)
            if isinstance(action, BreakStream) and not received.stream:
                return _error_response(action.error or Fail(500))
            usage = _usage(received, action)
            if not received.stream:
                assert isinstance(action, Reply)
                return JSONResponse({**action.body(), "usageMetadata": usage})
            return StreamingResponse(_sse(action, usage), media_type="text/event-stream")

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


_MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly (call {})."
)


_UNPAIRED_CALLS = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)
_RESPONSE_WITHOUT_CALL = (
    "Please ensure that function response turn comes immediately after a function call turn."
)
_CALL_OUT_OF_PLACE = (
    "Please ensure that function call turn comes immediately after a user turn or after a "
    "function response turn."
)


def _calls_of(content: Mapping[str, Any]) -> list[dict[str, Any]]:
    if content.get("role") != "model":
        return []
    return [p["functionCall"] for p in content.get("parts", []) if "functionCall" in p]


def _pairs(calls: list[dict[str, Any]], responses: list[dict[str, Any]]) -> bool:
    """Whether `responses` answer `calls` one to one: same names, and the same ids where the
    calls have them."""
    if len(calls) != len(responses):
        return False
    if sorted(c.get("name", "") for c in calls) != sorted(r.get("name", "") for r in responses):
        return False
    call_ids = sorted(c["id"] for c in calls if c.get("id"))
    return not call_ids or call_ids == sorted(r.get("id") or "" for r in responses)


def _usage(request: ModelRequest, action: Reply | BreakStream) -> dict[str, int]:
    reply = action.before if isinstance(action, BreakStream) else action
    prompt = len(json.dumps(request.body)) // 4
    answer = len(json.dumps(reply.chunks)) // 4
    return {"promptTokenCount": prompt, "candidatesTokenCount": answer}


async def _sse(action: Reply | BreakStream, usage: dict[str, int]) -> AsyncIterator[bytes]:
    reply = action.before if isinstance(action, BreakStream) else action
    bodies = reply.chunk_bodies()
    for n, chunk in enumerate(bodies):
        # The API reports usage on the chunks; the last one holds the totals.
        yield _sse_event({**chunk, "usageMetadata": usage} if n == len(bodies) - 1 else chunk)
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
