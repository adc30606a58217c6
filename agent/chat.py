"""The chat agent: Gemini decides, MCP tools act as the user, and the conversation remembers.

`ChatAgent.start` opens a turn: it takes the conversation's turn lease (one turn at a time per
conversation, whichever process runs it: the database decides), stores the user's message and
loads the history; `ChatTurn.run` (in `agent.turn`) asks the model and carries the turn out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import anyio
from google import genai
from google.genai import types
from mcp.types import Tool

from agent import consent
from agent.declarations import function_declarations
from agent.history import history_contents
from agent.model_call import ModelCallObserver
from agent.prompt import system_instruction
from agent.turn import ChatTurn
from storage.conversations import ConversationRepository, MessageRecord, title_from
from storage.errors import StorageError

__all__ = ["ChatAgent", "ChatTurn", "ToolCaller"]

log = logging.getLogger(__name__)

MAX_ROUNDS = 8
MAX_TOOL_CALLS = 20
HISTORY_MESSAGES = 40
HISTORY_TOKENS = 12_000
TURN_DEADLINE_S = 120.0
# A turn's lease outlives its deadline by this much (storing its record), and lapses then if
# the process running it died.
LEASE_MARGIN_S = 30.0
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
    # Names of the tools annotated destructive (whose calls need the user's consent).
    destructive_tools: frozenset[str] = field(default=frozenset(), init=False)

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
        decision: consent.Decision | None = None,
        retry_of: int | None = None,
    ) -> ChatTurn:
        """Find (or open) the conversation, take its turn lease and store the user's message;
        the model is asked only when the returned turn is run (which gives the lease back).

        `decision` is a UI's confirm or cancel action on the delete proposal of the previous
        reply (`message` may then be empty); a `message` that is a plain yes confirms it too.
        Either way the model is not asked: the turn carries the proposal out or drops it.

        `retry_of` is the id of the stored user message this turn asks again (a UI's retry):
        while it is still the conversation's last message (its turn failed and left nothing
        after it), the turn answers it as stored rather than storing it a second time.

        Raises `ConversationNotFoundError` unless the conversation is the user's, and
        `ConversationBusyError` (storing nothing) while another turn of it is running."""
        if decision is not None and not message.strip():
            message = consent.DECISION_WORDS[decision]
        if conversation_id is None:
            created = await self.conversations.create(user_id, title_from(message))
            conversation_id = created.id
        lease = await self.conversations.claim_turn(
            user_id, conversation_id, self.turn_deadline_s + LEASE_MARGIN_S
        )
        try:
            history: list[MessageRecord] = []
            if retry_of is not None:
                # Read under the lease: no other turn can add a message meanwhile.
                history = await self.conversations.recent_messages(
                    user_id, conversation_id, HISTORY_MESSAGES
                )
            if history and history[-1].id == retry_of and history[-1].role == "user":
                message_id = history[-1].id
            else:
                stored = await self.conversations.add_message(
                    user_id, conversation_id, "user", message
                )
                message_id = stored.id
                history = await self.conversations.recent_messages(
                    user_id, conversation_id, HISTORY_MESSAGES
                )
            if self._declarations is None:
                tools = await self.tools.tools()
                self.destructive_tools = frozenset(
                    t.name for t in tools if t.annotations and t.annotations.destructive_hint
                )
                self._declarations = function_declarations(tools)
        except BaseException:
            with anyio.CancelScope(shield=True):
                try:
                    await self.conversations.release_turn(conversation_id, lease)
                except StorageError:
                    log.warning("could not release a conversation's turn lease; it will lapse")
            raise
        pending = consent.pending_before(history)
        confirm_words = decision is None and consent.confirms(message)
        return ChatTurn(
            agent=self,
            user_id=user_id,
            conversation_id=conversation_id,
            message=message,
            contents=history_contents(history, self.history_tokens),
            today=datetime.now(timezone or UTC).date(),
            zone=timezone.key if timezone else "UTC",
            confirmed=pending if decision == "confirm" or confirm_words else [],
            decision=decision,
            lease=lease,
            message_id=message_id,
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
