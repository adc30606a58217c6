"""`POST /api/{user_id}/chat/ai-sdk`: the Vercel AI SDK UI message stream (v1), for `useChat`
with `DefaultChatTransport`.

The request is the transport's body: `id` (the conversation: a new id opens it), `messages`,
`trigger`, `messageId`. The stored conversation is the truth: of the client's messages only the
last is read, as the new user message or as the answer to a delete proposal (a tool part in
state `approval-responded`). The answer is Server-Sent Events, `data: {chunk}` each: `start`,
text as `text-start`/`text-delta`/`text-end`, each tool call as `tool-input-available` then
`tool-output-available` (or `tool-output-error`), a proposed delete as `tool-input-available`
then `tool-approval-request`, a failure as `error` (the end of the shutdown's grace period
too), then `finish` and `data: [DONE]`; a `: keep-alive` comment line in long silences.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from agent.consent import DECISION_WORDS, Decision
from agent.events import DeltaEvent, DoneEvent, Event, ProposalEvent, ToolCallEvent
from http_adapter import route_table
from http_adapter.chat_turns import (
    TurnStarter,
    decision_of,
    read_bytes,
    turn_events,
    turn_failure,
)
from http_adapter.chat_ui_models import AiSdkRequest, UIMessage
from http_adapter.endpoints import Handler, parse_json
from http_adapter.operations import Operation
from http_adapter.problems import HTTPProblem
from http_adapter.schemas import error_list
from http_adapter.shutdown import Shutdown
from http_adapter.sse_response import FrameStream

if TYPE_CHECKING:
    from agent.chat import ChatTurn

HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
NO_MESSAGE = "The last message must be the user's new message, or an answer to a proposal."
DELETE_TOOL = "delete_task"
# The transport sends the whole conversation every time (only its last message is read).
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def ai_sdk_handlers(starter: TurnStarter) -> dict[Operation, Handler]:
    ctx = starter.ctx

    async def chat(request: Request) -> Response:
        user = await ctx.authorize(request)
        starter.require_agent()
        body = _request(await read_bytes(request, MAX_REQUEST_BYTES))
        message, decision = _new_message(body.messages[-1])
        turn = await starter.start(user, message, body.id, create=True, decision=decision)
        frames = _stream(turn, ctx.shutdown)
        return FrameStream(
            frames, ctx.settings.chat_keepalive_s, headers=HEADERS, on_end=turn.abandon
        )

    return {route_table.CHAT_AI_SDK: chat}


def _request(body: bytes) -> AiSdkRequest:
    try:
        return AiSdkRequest.model_validate(parse_json(body))
    except ValidationError as exc:
        raise HTTPProblem(
            422, "The body is not a chat request.", errors=error_list(exc.errors(), "body")
        ) from None


def _new_message(last: UIMessage) -> tuple[str, Decision | None]:
    """What the turn answers: the user's text, or the decision an approval answer is."""
    if last.role == "assistant":
        for part in last.parts:
            approval = part.get("approval")
            if part.get("state") == "approval-responded" and isinstance(approval, dict):
                decision = decision_of(approval.get("approved") is True)
                return DECISION_WORDS[decision], decision
        raise HTTPProblem(422, NO_MESSAGE)
    if last.role != "user":
        raise HTTPProblem(422, NO_MESSAGE)
    text = "\n".join(str(p.get("text", "")) for p in last.parts if p.get("type") == "text").strip()
    if not text:
        raise HTTPProblem(422, "The user's message has no text.")
    if len(text) > 4000 or "\x00" in text:
        raise HTTPProblem(422, "The message must be at most 4000 characters, with no NUL.")
    return text, None


async def _stream(turn: ChatTurn, shutdown: Shutdown) -> AsyncIterator[bytes]:
    chunks = Chunks()
    yield _sse({"type": "start", "messageId": f"msg-{uuid.uuid4().hex}"})
    try:
        async for event in turn_events(turn, shutdown):
            for chunk in chunks.of(event):
                yield _sse(chunk)
    except Exception as exc:
        problem = turn_failure(exc)
        if problem is None:
            raise
        for chunk in chunks.end_text():
            yield _sse(chunk)
        yield _sse({"type": "error", "errorText": problem.detail})
        yield _sse({"type": "finish", "finishReason": "error"})
    else:
        yield _sse({"type": "finish", "finishReason": "stop"})
    yield b"data: [DONE]\n\n"


class Chunks:
    """A turn's events as UI message stream chunks. Tools are `dynamic` (the client does not
    declare them): they show as `dynamic-tool` parts."""

    def __init__(self) -> None:
        self._text_id: str | None = None
        self._texts = 0

    def of(self, event: Event) -> Iterator[dict[str, Any]]:
        if isinstance(event, DeltaEvent):
            if self._text_id is None:
                self._texts += 1
                self._text_id = f"text-{self._texts}"
                yield {"type": "text-start", "id": self._text_id}
            yield {"type": "text-delta", "id": self._text_id, "delta": event.text}
        elif isinstance(event, ToolCallEvent):
            yield from self.end_text()
            yield _tool_input(event.id, event.name, event.arguments)
        elif isinstance(event, ProposalEvent):
            yield from self.end_text()
            for proposal in event.proposals:
                yield _tool_input(event.id, DELETE_TOOL, {"task_id": proposal.get("task_id")})
            yield {
                "type": "tool-approval-request",
                "approvalId": event.id,
                "toolCallId": event.id,
                "reason": "Deleting needs your confirmation: "
                + ", ".join(
                    f'#{p.get("task_id")} "{p.get("title") or ""}"' for p in event.proposals
                ),
            }
        elif isinstance(event, DoneEvent):
            yield from self.end_text()
        elif "error" in event.outcome:
            yield {
                "type": "tool-output-error",
                "toolCallId": event.id,
                "errorText": str(event.outcome["error"]),
                "dynamic": True,
            }
        else:
            yield {
                "type": "tool-output-available",
                "toolCallId": event.id,
                "output": event.outcome.get("result"),
                "dynamic": True,
            }

    def end_text(self) -> Iterator[dict[str, Any]]:
        if self._text_id is not None:
            yield {"type": "text-end", "id": self._text_id}
            self._text_id = None


def _tool_input(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool-input-available",
        "toolCallId": call_id,
        "toolName": name,
        "input": arguments,
        "dynamic": True,
    }


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, ensure_ascii=False, default=str).encode() + b"\n\n"
