"""One chat turn: the bounded function-calling loop, and its record in the conversation.

The function-calling loop is ours, not the SDK's: at most `max_rounds` model calls a turn (the
last one with function calling off, so the model answers in words), at most `max_tool_calls`
tool calls, each executed through MCP as the authenticated user, results and errors handed back
to the model in a compact view, and the model's content kept verbatim (thought signatures
included). Destructive calls go through `agent.consent`.

The reply is stored as the turn goes: as soon as a tool call has run, the assistant message
holds it and its result (visible in the conversation while the turn goes on), and the turn
ends by writing the reply into that message, however it ends: answered, failed, timed out or
cancelled. The turn holds the conversation's turn lease (see `ChatAgent.start`) until then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import anyio
from fastmcp.exceptions import FastMCPError
from google.genai import types

from agent import consent
from agent.compact import TurnBudget
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
from agent.history import turn_record
from agent.model_call import Answer, ask
from storage.errors import StorageError

if TYPE_CHECKING:
    from agent.chat import ChatAgent

log = logging.getLogger(__name__)

BOUND_REPLY = (
    "I stopped after {rounds} rounds of tool calls without finishing. Please try again with a "
    "simpler or more specific request."
)
REFUSAL = "I can't help with that: the request was blocked by the model's safety filters."
INTERRUPTED = (
    "I was interrupted before I could answer: {reason} The actions listed with this message "
    "were carried out."
)
# What the reply says while its turn runs; it stays so only if the process dies mid-turn.
UNFINISHED = "This answer was not finished. The actions listed with this message were carried out."
AWAITING = (
    "Not done yet: deleting needs the user's confirmation. The server has asked the user to "
    "confirm; tell them it is waiting for their yes, and do not say it was deleted."
)


def _response_part(call_id: str | None, name: str, response: dict[str, Any]) -> types.Part:
    return types.Part(
        function_response=types.FunctionResponse(id=call_id, name=name, response=response)
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
    # The proposal the user confirmed, or the UI's decision on it: either means the turn
    # carries out (or drops) the proposal without asking the model.
    confirmed: list[dict[str, Any]]
    decision: consent.Decision | None
    lease: str
    message_id: int  # the stored user message this turn answers
    calls_made: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    _emit: Emit = _nowhere
    _began: bool = False  # run (or abandon) was called: the lease is theirs to give back
    _said: list[str] = field(default_factory=list)
    _round_spoke: bool = False
    _turn_start: int = 0
    _message_id: int | None = None
    _budget: TurnBudget = field(default_factory=TurnBudget)
    # The tool calls as the conversation stores them: results in the model's bounded view.
    _stored_calls: list[dict[str, Any]] = field(default_factory=list)
    _usage: dict[str, int] = field(
        default_factory=lambda: {"input_tokens": 0, "output_tokens": 0, "model_calls": 0}
    )

    async def run(self, emit: Emit | None = None) -> dict[str, Any]:
        """Run the turn, reporting its events to `emit` (the last one a `DoneEvent`); the
        answer. A model failure raises `ModelError`, a storage failure `StorageError`; either
        way, and on cancellation, the tool calls already executed are stored."""
        self._began = True
        self._emit = emit or _nowhere
        self._turn_start = len(self.contents)
        try:
            return await self._run()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.agent.conversations.release_turn(self.conversation_id, self.lease)
                except StorageError:
                    log.warning("could not release a conversation's turn lease; it will lapse")

    async def abandon(self) -> None:
        """A turn that will not run (its client left, or its answer failed, before it began):
        its lease given back now rather than left to lapse, which would keep the conversation
        busy for minutes. Its message stays stored with nothing after it, as after a failed
        turn (a retry answers it in place). Nothing once the turn has begun to run."""
        if self._began:
            return
        self._began = True
        with anyio.CancelScope(shield=True):
            try:
                await self.agent.conversations.release_turn(self.conversation_id, self.lease)
            except StorageError:
                log.warning("could not release a conversation's turn lease; it will lapse")

    async def _run(self) -> dict[str, Any]:
        try:
            try:
                with anyio.fail_after(self.agent.turn_deadline_s):
                    await (
                        self._carry_out() if self.decision or self.confirmed else self._converse()
                    )
            except TimeoutError as exc:
                raise ModelError(
                    504, f"The turn did not finish within {self.agent.turn_deadline_s:g} s."
                ) from exc
            if self.pending:
                self._round_spoke = False
                await self._say(consent.confirmation_request(self.pending))
            reply = "".join(self._said)
            with anyio.CancelScope(shield=True):
                await self._save(reply, self.pending)
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
            # The responses grow as the calls run, so that an interrupted turn's record holds
            # the result of every call that ran (the others are answered by `well_formed`).
            responses = types.Content(role="user", parts=[])
            self.contents.append(responses)
            assert responses.parts is not None
            await self._act(answer.function_calls, responses.parts)
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

    async def _act(
        self, function_calls: Sequence[types.FunctionCall], responses: list[types.Part]
    ) -> None:
        """Execute (or hold for consent) the calls of one model answer, adding each one's
        response to `responses` as soon as it has one."""
        for function_call in function_calls:
            name = function_call.name or ""
            arguments = dict(function_call.args or {})
            if len(self.calls_made) >= self.agent.max_tool_calls:
                limit = self.agent.max_tool_calls
                model_view: dict[str, Any] = {
                    "error": f"Not run: a turn may make at most {limit} tool calls."
                }
            elif name in self.agent.destructive_tools and name != "delete_task":
                # Consent is worded per task; a whole list is the app's to delete, not chat's.
                model_view = {
                    "error": f"Not run: {name} is not available in chat; the user can do this "
                    "in the app."
                }
            elif name in self.agent.destructive_tools:
                model_view = await self._propose(function_call.id, arguments)
            else:
                await self._execute(function_call.id, name, arguments, responses)
                continue
            responses.append(_response_part(function_call.id, name, model_view))

    async def _execute(
        self,
        call_id: str | None,
        name: str,
        arguments: dict[str, Any],
        responses: list[types.Part] | None = None,
    ) -> dict[str, Any]:
        """Run one tool call and note it (and its response to the model, in `responses`);
        once started, a call is finished and noted even if the turn is cancelled meanwhile, so
        that the record never misses what was done."""
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
            shown = self._budget.view(outcome, arguments)
            kept = shown if "error" in shown else shown["result"]
            self._stored_calls.append({"name": name, "arguments": arguments, "result": kept})
            if responses is not None:
                responses.append(_response_part(call_id, name, shown))
            await self._save(UNFINISHED, [])
        await self._emit(ToolResultEvent(event_id, name, outcome))
        return outcome

    async def _propose(self, call_id: str | None, arguments: dict[str, Any]) -> dict[str, Any]:
        """Hold a destructive call for the user's confirmation, naming the task as it is now;
        what the model is told."""
        task_id = arguments.get("task_id")
        if task_id is None:
            return {"error": "Not run: a delete needs the task_id of the task to delete."}
        if len(self.pending) >= consent.MAX_PENDING:
            return {"error": f"Not run: at most {consent.MAX_PENDING} deletions at a time."}
        try:
            task = await self.agent.tools.call(self.user_id, "get_task", {"task_id": task_id})
        except FastMCPError as exc:
            return {"error": str(exc) or "The tool failed."}
        if all(p["task_id"] != task["id"] for p in self.pending):
            held = consent.proposal(call_id or f"call_{uuid.uuid4().hex[:12]}", task)
            self.pending.append(held)
            await self._emit(ProposalEvent(held["id"], [consent.public(held)]))
        return {"result": {"status": "awaiting_confirmation", "message": AWAITING}}

    async def _carry_out(self) -> None:
        """The user's answer to the proposal of the previous reply, without the model: delete
        each task still at the version proposed, or drop the proposal."""
        if self.decision == "cancel":
            await self._say(consent.CANCELLED)
            return
        if not self.confirmed:
            await self._say(consent.NOTHING_PENDING)
            return
        deleted: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        failed: list[str] = []
        for held in self.confirmed:
            arguments = {"task_id": held["task_id"]}
            try:
                current = await self.agent.tools.call(self.user_id, "get_task", arguments)
            except FastMCPError:
                failed.append(f"{consent.describe([held])} no longer exists.")
                continue
            if str(current.get("version")) != held["version"]:
                changed.append(current)
                continue
            # The version goes with the delete too, so a change made meanwhile still wins.
            arguments["expected_version"] = current["version"]
            outcome = await self._execute(held["id"], "delete_task", arguments)
            if "error" in outcome:
                failed.append(str(outcome["error"]))
            else:
                deleted.append(current)
        await self._say(consent.outcome_words(deleted, changed, failed))

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

    async def _save(self, reply: str, pending: list[dict[str, Any]]) -> None:
        """Store the reply as it stands: the first time as a new assistant message, then in
        place."""
        conversations = self.agent.conversations
        calls = self._stored_calls or None
        record = turn_record(self.contents[self._turn_start :], pending, self._usage)
        if self._message_id is None:
            stored = await conversations.add_message(
                self.user_id, self.conversation_id, "assistant", reply, calls, record
            )
            self._message_id = stored.id
        else:
            await conversations.update_message(
                self.user_id, self.conversation_id, self._message_id, reply, calls, record
            )

    async def _store_interrupted(self, reason: str) -> None:
        """A turn that ends without an answer still records the tool calls it executed."""
        if not self._stored_calls:
            return  # nothing was done: the user's message alone tells the story
        with anyio.CancelScope(shield=True):
            try:
                await self._save(INTERRUPTED.format(reason=reason), [])
            except StorageError:
                log.warning("could not record the tool calls of an interrupted turn")
