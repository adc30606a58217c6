"""One chat turn: Gemini decides, MCP tools act as the user, and the conversation remembers.

The function-calling loop is ours, not the SDK's: at most `max_rounds` model calls a turn (the
last one with function calling off, so the model answers in words), at most `max_tool_calls`
tool calls, each executed through MCP as the authenticated user, results and errors handed back
to the model in a compact view, and the model's content kept verbatim (thought signatures
included). Destructive calls go through `agent.consent`. Whatever a turn executed is stored
with the conversation however the turn ends: answered, failed, timed out or cancelled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import anyio
from fastmcp.exceptions import FastMCPError
from google import genai
from google.genai import types
from mcp.types import Tool

from agent import consent
from agent.compact import for_model
from agent.declarations import function_declarations
from agent.events import (
    DeltaEvent,
    DoneEvent,
    Emit,
    Event,
    ModelError,
    ProposalEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.history import history_contents, turn_record
from agent.model_call import Answer, ModelCallObserver, ask
from agent.prompt import system_instruction
from storage.conversations import ConversationRepository, title_from
from storage.errors import StorageError

log = logging.getLogger(__name__)

MAX_ROUNDS = 8
MAX_TOOL_CALLS = 20
HISTORY_MESSAGES = 40
HISTORY_TOKENS = 12_000
TURN_DEADLINE_S = 120.0
BOUND_REPLY = (
    "I stopped after {rounds} rounds of tool calls without finishing. Please try again with a "
    "simpler or more specific request."
)
REFUSAL = "I can't help with that: the request was blocked by the model's safety filters."
INTERRUPTED = (
    "I was interrupted before I could answer: {reason} The actions listed with this message "
    "were carried out."
)
AWAITING = (
    "Not done yet: deleting needs the user's confirmation. The server has asked the user to "
    "confirm; tell them it is waiting for their yes, and do not say it was deleted."
)
# Thinking is set for the Gemini 3 family only: older models reject `thinking_level`. Low is
# enough for task management and keeps turns quick; temperature stays at the default, as
# Google advises for Gemini 3.
_THINKING = types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW)


class ToolCaller(Protocol):
    """How the agent reaches the MCP tools: in-process, as a given user. `call` raises a
    fastmcp `ToolError` for anything the model should hear about, unknown tools included."""

    async def tools(self) -> list[Tool]: ...

    async def call(self, user_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class ChatAgent:
    client: genai.Client
    model: str
    tools: ToolCaller
    conversations: ConversationRepository
    observer: ModelCallObserver | None = None
    max_rounds: int = MAX_ROUNDS
    max_tool_calls: int = MAX_TOOL_CALLS
    history_tokens: int = HISTORY_TOKENS
    turn_deadline_s: float = TURN_DEADLINE_S
    _declarations: list[types.FunctionDeclaration] | None = field(default=None, init=False)
    _destructive: frozenset[str] = field(default=frozenset(), init=False)

    async def aclose(self) -> None:
        """Close the model client's connections (at application shutdown)."""
        await self.client.aio.aclose()

    async def start(
        self,
        user_id: str,
        message: str,
        conversation_id: str | None,
        *,
        timezone: ZoneInfo | None = None,
    ) -> ChatTurn:
        """Find (or open) the conversation and store the user's message; the model is asked
        only when the returned turn is run."""
        if conversation_id is None:
            created = await self.conversations.create(user_id, title_from(message))
            conversation_id = created.id
        # Raises ConversationNotFoundError unless the conversation is the user's.
        await self.conversations.add_message(user_id, conversation_id, "user", message)
        history = await self.conversations.recent_messages(
            user_id, conversation_id, HISTORY_MESSAGES
        )
        if self._declarations is None:
            tools = await self.tools.tools()
            self._destructive = frozenset(
                t.name for t in tools if t.annotations and t.annotations.destructive_hint
            )
            self._declarations = function_declarations(tools)
        pending = consent.pending_before(history)
        return ChatTurn(
            agent=self,
            user_id=user_id,
            conversation_id=conversation_id,
            message=message,
            contents=history_contents(history, self.history_tokens),
            today=datetime.now(timezone or UTC).date(),
            zone=timezone.key if timezone else "UTC",
            confirmed=pending if consent.confirms(message) else [],
        )

    def config(self, today: date, zone: str, *, final: bool) -> types.GenerateContentConfig:
        mode = (
            types.FunctionCallingConfigMode.NONE if final else types.FunctionCallingConfigMode.AUTO
        )
        return types.GenerateContentConfig(
            system_instruction=system_instruction(today, zone),
            tools=[types.Tool(function_declarations=self._declarations)],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode=mode)
            ),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            thinking_config=_THINKING if self.model.startswith("gemini-3") else None,
        )


async def _nowhere(_event: Event) -> None:
    pass


@dataclass
class ChatTurn:
    agent: ChatAgent
    user_id: str
    conversation_id: str
    message: str
    contents: list[types.Content]
    today: date
    zone: str
    confirmed: list[dict[str, Any]]
    calls_made: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    _emit: Emit = _nowhere
    _said: list[str] = field(default_factory=list)
    _round_spoke: bool = False
    _turn_start: int = 0
    _deletes: int = 0
    _usage: dict[str, int] = field(
        default_factory=lambda: {"input_tokens": 0, "output_tokens": 0, "model_calls": 0}
    )

    async def run(self, emit: Emit | None = None) -> dict[str, Any]:
        """Run the turn, reporting its events to `emit` (the last one a `DoneEvent`); the
        answer. A model failure raises `ModelError`, a storage failure `StorageError`; either
        way, and on cancellation, the tool calls already executed are stored."""
        self._emit = emit or _nowhere
        self._turn_start = len(self.contents)
        try:
            try:
                with anyio.fail_after(self.agent.turn_deadline_s):
                    await (self._carry_out() if self.confirmed else self._converse())
            except TimeoutError as exc:
                raise ModelError(
                    504, f"The turn did not finish within {self.agent.turn_deadline_s:g} s."
                ) from exc
            if self.pending:
                self._round_spoke = False
                await self._say(consent.confirmation_request(self.pending))
            reply = "".join(self._said)
            with anyio.CancelScope(shield=True):
                await self._store(reply)
        except ModelError as exc:
            await self._store_interrupted(exc.detail)
            raise
        except BaseException as exc:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            await self._store_interrupted(
                "the request was cancelled." if cancelled else "the turn failed."
            )
            raise
        answer = {
            "conversation_id": self.conversation_id,
            "response": reply,
            "tool_calls": self.calls_made,
            "usage": self._usage,
        }
        await self._emit(DoneEvent(answer))
        return answer

    async def _converse(self) -> None:
        agent = self.agent
        for round_ in range(agent.max_rounds):
            final = round_ == agent.max_rounds - 1 or len(self.calls_made) >= agent.max_tool_calls
            answer = await self._ask(final=final)
            if answer.blocked:
                await self._say(REFUSAL)
                return
            if final or not answer.function_calls:
                # On the final round calls are forbidden; any the model makes anyway are dropped.
                if not "".join(self._said).strip():
                    await self._say(BOUND_REPLY.format(rounds=round_ + 1))
                return
            self.contents.append(types.Content(role="model", parts=answer.parts))
            responses = await self._act(answer.function_calls)
            self.contents.append(types.Content(role="user", parts=responses))
        raise AssertionError("the last round forbids function calls")  # pragma: no cover

    async def _ask(self, *, final: bool) -> Answer:
        """One model round; an empty or malformed answer is asked for once more."""
        agent = self.agent
        config = agent.config(self.today, self.zone, final=final)
        self._round_spoke = False
        answer: Answer | None = None
        for _ in range(2):
            answer = await ask(
                agent.client,
                agent.model,
                self.contents,
                config,
                stream=self._stream,
                on_text=self._say,
                observer=agent.observer,
            )
            self._usage["input_tokens"] += answer.input_tokens
            self._usage["output_tokens"] += answer.output_tokens
            self._usage["model_calls"] += 1
            if answer.blocked or not (answer.empty or answer.malformed):
                return answer
            log.info("the model's answer was %s; asking again", answer.outcome)
        assert answer is not None
        if answer.malformed:
            raise ModelError(502, "The model produced a malformed function call.")
        raise ModelError(502, "The model returned no answer.")

    async def _act(self, function_calls: Sequence[types.FunctionCall]) -> list[types.Part]:
        """Execute (or hold for consent) the calls of one model answer; their responses."""
        destructive = [c for c in function_calls if c.name in self.agent._destructive]
        allowed_now = (
            len(destructive) == 1 and self._deletes == 0 and consent.asks_to_delete(self.message)
        )
        responses: list[types.Part] = []
        for function_call in function_calls:
            name = function_call.name or ""
            arguments = dict(function_call.args or {})
            if len(self.calls_made) >= self.agent.max_tool_calls:
                limit = self.agent.max_tool_calls
                model_view: dict[str, Any] = {
                    "error": f"Not run: a turn may make at most {limit} tool calls."
                }
            elif name in self.agent._destructive and not allowed_now:
                model_view = await self._propose(function_call.id, name, arguments)
            else:
                self._deletes += name in self.agent._destructive
                outcome = await self._execute(function_call.id, name, arguments)
                model_view = for_model(outcome, arguments)
            responses.append(
                types.Part(
                    function_response=types.FunctionResponse(
                        id=function_call.id, name=name, response=model_view
                    )
                )
            )
        return responses

    async def _execute(
        self, call_id: str | None, name: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """Run one tool call and note it; once started, a call is finished and noted even if
        the turn is cancelled meanwhile, so that the record never misses what was done."""
        event_id = call_id or f"call_{uuid.uuid4().hex[:12]}"
        if name == "list_tasks" and "due" in arguments and "today" not in arguments:
            # "Overdue" and "due today" are the user's day, not the server's.
            arguments = {**arguments, "today": self.today.isoformat()}
        await self._emit(ToolCallEvent(event_id, name, arguments))
        with anyio.CancelScope(shield=True):
            outcome: dict[str, Any]
            try:
                outcome = {"result": await self.agent.tools.call(self.user_id, name, arguments)}
            except FastMCPError as exc:  # tool errors, unknown tools included
                outcome = {"error": str(exc) or "The tool failed."}
            # A failed call is kept as its error; a successful one as its result.
            recorded = outcome if "error" in outcome else outcome["result"]
            self.calls_made.append({"name": name, "arguments": arguments, "result": recorded})
        await self._emit(ToolResultEvent(event_id, name, outcome))
        return outcome

    async def _propose(
        self, call_id: str | None, name: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        """Hold a destructive call for the user's confirmation; what the model is told."""
        if len(self.pending) >= consent.MAX_PENDING:
            return {"error": f"Not run: at most {consent.MAX_PENDING} deletions at a time."}
        title = None
        task_id = arguments.get("task_id")
        if task_id is not None:
            try:
                found = await self.agent.tools.call(self.user_id, "get_task", {"task_id": task_id})
            except FastMCPError as exc:
                return {"error": str(exc) or "The tool failed."}
            title = found.get("title")
            proposed = {"task_id": task_id, "title": title, "version": str(found.get("version"))}
            await self._emit(ProposalEvent(call_id or f"call_{uuid.uuid4().hex[:12]}", [proposed]))
        if all(p["arguments"] != arguments or p["name"] != name for p in self.pending):
            self.pending.append({"name": name, "arguments": arguments, "title": title})
        return {"result": {"status": "awaiting_confirmation", "message": AWAITING}}

    async def _carry_out(self) -> None:
        """The user confirmed the proposal of the previous reply: run it, without the model."""
        done: list[dict[str, Any]] = []
        failed: list[str] = []
        for proposal in self.confirmed:
            outcome = await self._execute(None, proposal["name"], proposal["arguments"])
            if "error" in outcome:
                failed.append(outcome["error"])
            else:
                done.append(proposal)
        words = f"Deleted {consent.describe(done)}." if done else "Nothing was deleted."
        if failed:
            words += " " + " ".join(failed)
        await self._say(words)

    async def _say(self, text: str) -> None:
        """Text for the user: every piece streamed is part of the final response, and the
        rounds' texts are set apart by a blank line."""
        if not self._round_spoke and self._said:
            self._said.append("\n\n")
            await self._emit(DeltaEvent("\n\n"))
        self._round_spoke = True
        self._said.append(text)
        await self._emit(DeltaEvent(text))

    @property
    def _stream(self) -> bool:
        return self._emit is not _nowhere

    async def _store(self, reply: str) -> None:
        await self.agent.conversations.add_message(
            self.user_id,
            self.conversation_id,
            "assistant",
            reply,
            self.calls_made or None,
            turn_record(self.contents[self._turn_start :], self.pending, self._usage),
        )

    async def _store_interrupted(self, reason: str) -> None:
        """A turn that ends without an answer still records the tool calls it executed."""
        if not self.calls_made:
            return  # nothing was done: the user's message alone tells the story
        with anyio.CancelScope(shield=True):
            try:
                await self.agent.conversations.add_message(
                    self.user_id,
                    self.conversation_id,
                    "assistant",
                    INTERRUPTED.format(reason=reason),
                    self.calls_made,
                    turn_record(self.contents[self._turn_start :], [], self._usage),
                )
            except StorageError:
                log.warning("could not record the tool calls of an interrupted turn")
