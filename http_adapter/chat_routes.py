"""Chat and conversation routes. A chat turn answers as JSON, or as Server-Sent Events when the
client asks for `text/event-stream`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import anyio
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.events import DeltaEvent, DoneEvent, Event, ModelError, ToolCallEvent, ToolResultEvent
from http_adapter import route_table
from http_adapter.chat_turns import TurnStarter
from http_adapter.endpoints import Handler, read_body
from http_adapter.operations import Operation
from http_adapter.problems import (
    CHAT_TURN_FAILED,
    PROBLEM_JSON,
    SHUTTING_DOWN,
    HTTPProblem,
    problem_body,
    storage_problem,
)
from http_adapter.schemas import ChatRequest, MessagePage, error_list
from http_adapter.shutdown import Shutdown
from http_adapter.sse_response import SseResponse
from storage.errors import StorageError

if TYPE_CHECKING:
    from agent.chat import ChatTurn

log = logging.getLogger(__name__)


def chat_handlers(starter: TurnStarter) -> dict[Operation, Handler]:
    """The handler of each chat and conversation operation of the route table."""
    ctx, conversations = starter.ctx, starter.conversations
    keepalive_s = ctx.settings.chat_keepalive_s

    async def chat(request: Request) -> Response:
        user = await ctx.authorize(request)
        starter.require_agent()
        body = await read_body(request, ChatRequest)
        zone = ZoneInfo(body.timezone) if body.timezone else None
        try:
            turn = await starter.start(user, body.message, body.conversation_id, timezone=zone)
        except HTTPProblem as exc:
            if exc.status in (409, 429):
                # Refused before it began: the client sends it again, in the same conversation.
                return turn_problem(exc, body.conversation_id)
            raise
        if "text/event-stream" in request.headers.get("accept", ""):
            return TurnStream(turn, keepalive_s, ctx.shutdown)
        return await _json_turn(turn, ctx.shutdown)

    async def list_conversations(request: Request) -> Response:
        user = await ctx.authorize(request)
        with storage_problems():
            found = await conversations.list(user)
        return JSONResponse([c.model_dump(mode="json") for c in found])

    async def get_conversation(request: Request) -> Response:
        user = await ctx.authorize(request)
        try:
            page = MessagePage.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise HTTPProblem(
                422, "Invalid query parameters.", errors=error_list(exc.errors(), "query")
            ) from None
        with storage_problems():
            found = await conversations.detail(
                user, _conversation_id(request), before=page.before, limit=page.limit
            )
        return JSONResponse(found.model_dump(mode="json"))

    async def delete_conversation(request: Request) -> Response:
        user = await ctx.authorize(request)
        with storage_problems():
            await conversations.delete(user, _conversation_id(request))
        return Response(status_code=204)

    return {
        route_table.CHAT: chat,
        route_table.LIST_CONVERSATIONS: list_conversations,
        route_table.GET_CONVERSATION: get_conversation,
        route_table.DELETE_CONVERSATION: delete_conversation,
    }


async def _json_turn(turn: ChatTurn, shutdown: Shutdown) -> Response:
    """A turn answered as one JSON object. Like a stream, it ends when the shutdown's grace
    period does (what it did is recorded), with a problem naming its conversation."""
    answer: dict[str, Any] | None = None
    with shutdown.turn(), anyio.CancelScope() as turn_scope:
        async with anyio.create_task_group() as group:
            group.start_soon(_end_on_shutdown, shutdown, turn_scope)
            try:
                answer = await turn.run()
            except ModelError as exc:
                return turn_problem(_model_problem(exc), turn.conversation_id)
            except StorageError as exc:
                return turn_problem(storage_problem(exc), turn.conversation_id)
            finally:
                group.cancel_scope.cancel()
    if answer is None:
        log.info("a chat turn was ended by the shutdown")
        return turn_problem(SHUTTING_DOWN, turn.conversation_id)
    return JSONResponse(answer)


async def _end_on_shutdown(shutdown: Shutdown, turn_scope: anyio.CancelScope) -> None:
    await shutdown.wait()
    turn_scope.cancel()


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
        raise storage_problem(exc) from None


def _model_problem(exc: ModelError) -> HTTPProblem:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return HTTPProblem(exc.status, exc.detail, headers=headers)


def turn_body(problem: HTTPProblem, conversation_id: str | None) -> dict[str, Any]:
    """A chat problem names its conversation, so that a client retries in the same one."""
    body = problem_body(problem.status, problem.detail)
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


def turn_problem(problem: HTTPProblem, conversation_id: str | None) -> Response:
    return Response(
        json.dumps(turn_body(problem, conversation_id)),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


class TurnStream(SseResponse):
    """A chat turn as Server-Sent Events.

    The turn runs to its end even if the client leaves (its events are then dropped), so
    that what the user asked for is finished and stored, within the turn's deadline. While
    nothing else is sent, a comment line every `keepalive_s` keeps proxies from closing the
    connection. Every way the turn can fail ends the stream with an `error` event; so does a
    server shutdown whose grace period runs out, which cancels the turn as a deadline would
    (what it did is recorded, nothing half-done).
    """

    def __init__(self, turn: ChatTurn, keepalive_s: float, shutdown: Shutdown) -> None:
        super().__init__(keepalive_s)
        self.turn = turn
        self.shutdown = shutdown

    async def stream(self) -> None:
        try:
            with self.shutdown.turn(), anyio.CancelScope() as turn_scope:
                self.tasks.start_soon(_end_on_shutdown, self.shutdown, turn_scope)
                await self.turn.run(self._event)
            if turn_scope.cancelled_caught:
                log.info("a chat stream was ended by the shutdown")
                await self._error(SHUTTING_DOWN)
        except ModelError as exc:
            await self._error(_model_problem(exc))
        except StorageError as exc:
            await self._error(storage_problem(exc))
        except Exception:
            log.exception("a streamed chat turn failed")
            await self._error(HTTPProblem(500, CHAT_TURN_FAILED))

    async def _event(self, event: Event) -> None:
        if isinstance(event, DoneEvent):
            await self.write(_sse("done", event.answer))
        elif isinstance(event, DeltaEvent):
            await self.write(_sse("delta", {"text": event.text}))
        elif isinstance(event, ToolCallEvent):
            await self.write(_sse("tool_call", asdict(event)))
        elif isinstance(event, ToolResultEvent):
            data = {"id": event.id, "name": event.name, **event.outcome}
            await self.write(_sse("tool_result", data))

    async def _error(self, problem: HTTPProblem) -> None:
        await self.write(_sse("error", turn_body(problem, self.turn.conversation_id)))


def _sse(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
