"""Chat and conversation routes. A chat turn answers as JSON, or as Server-Sent Events when the
client asks for `text/event-stream`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent.events import DeltaEvent, DoneEvent, ModelError, ToolCallEvent
from http_adapter.context import AppContext
from http_adapter.endpoints import read_body, route
from http_adapter.problems import HTTPProblem, problem_body
from http_adapter.rate_limit import RateLimiter
from http_adapter.schemas import ChatRequest
from storage.conversations import ConversationRepository
from storage.errors import ConversationNotFoundError, StorageError, StorageUnavailableError

if TYPE_CHECKING:
    from agent.chat import ChatAgent, ChatTurn

NO_CHAT = "Chat is not configured on this server: set GEMINI_API_KEY to enable it."


def chat_routes(
    ctx: AppContext,
    conversations: ConversationRepository,
    agent: ChatAgent | None,
    limiter: RateLimiter,
) -> list[Route]:
    async def chat(request: Request) -> Response:
        user = await ctx.authorize(request)
        if agent is None:
            raise HTTPProblem(503, NO_CHAT)
        body = await read_body(request, ChatRequest)
        retry_after = limiter.acquire(user)
        if retry_after is not None:
            raise HTTPProblem(
                429,
                "Too many chat messages; wait a moment before sending another.",
                headers={"Retry-After": str(retry_after)},
            )
        with storage_problems():
            turn = await agent.start(user, body.message, body.conversation_id)
        if "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(
                _sse(turn),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            with storage_problems():
                async for event in turn.run(stream=False):
                    if isinstance(event, DoneEvent):
                        return JSONResponse(event.answer)
        except ModelError as exc:
            raise _model_problem(exc) from None
        raise AssertionError("a chat turn ends with a DoneEvent or raises")

    async def list_conversations(request: Request) -> Response:
        user = await ctx.authorize(request)
        with storage_problems():
            found = await conversations.list(user)
        return JSONResponse([c.model_dump(mode="json") for c in found])

    async def get_conversation(request: Request) -> Response:
        user = await ctx.authorize(request)
        with storage_problems():
            found = await conversations.detail(user, _conversation_id(request))
        return JSONResponse(found.model_dump(mode="json"))

    async def delete_conversation(request: Request) -> Response:
        user = await ctx.authorize(request)
        with storage_problems():
            await conversations.delete(user, _conversation_id(request))
        return Response(status_code=204)

    base = "/api/{user_id}"
    return [
        route(base + "/chat", {"POST": chat}),
        route(base + "/conversations", {"GET": list_conversations}),
        route(
            base + "/conversations/{conversation_id}",
            {"GET": get_conversation, "DELETE": delete_conversation},
        ),
    ]


def _conversation_id(request: Request) -> str:
    conversation_id: str = request.path_params["conversation_id"]
    # Ids are UUIDs: one with a NUL (which PostgreSQL cannot even compare) names none.
    if "\x00" in conversation_id:
        raise HTTPProblem(404, "Conversation not found.")
    return conversation_id


@contextmanager
def storage_problems() -> Iterator[None]:
    """Storage errors of the chat routes as HTTP problems."""
    try:
        yield
    except StorageError as exc:
        raise _storage_problem(exc) from None


def _storage_problem(exc: StorageError) -> HTTPProblem:
    """One mapping for JSON answers and for the `error` event of a stream."""
    if isinstance(exc, ConversationNotFoundError):
        return HTTPProblem(404, "Conversation not found.")
    if isinstance(exc, StorageUnavailableError):
        return HTTPProblem(503, "The database is unavailable right now.")
    return HTTPProblem(500, "The database failed to do this.")


def _model_problem(exc: ModelError) -> HTTPProblem:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return HTTPProblem(exc.status, exc.detail, headers=headers)


async def _sse(turn: ChatTurn) -> AsyncIterator[str]:
    try:
        async for event in turn.run(stream=True):
            if isinstance(event, DoneEvent):
                yield _event("done", event.answer)
            elif isinstance(event, DeltaEvent):
                yield _event("delta", {"text": event.text})
            elif isinstance(event, ToolCallEvent):
                yield _event("tool_call", asdict(event))
            else:
                yield _event("tool_result", {"id": event.id, "name": event.name, **event.outcome})
    except ModelError as exc:
        yield _event("error", problem_body(exc.status, exc.detail))
    except StorageError as exc:
        problem = _storage_problem(exc)
        yield _event("error", problem_body(problem.status, problem.detail))


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
