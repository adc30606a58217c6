"""One chat turn: Gemini decides, MCP tools act as the user, and the conversation remembers.

The function-calling loop is ours, not the SDK's: at most `max_rounds` model calls a turn, each
tool call executed through MCP as the authenticated user, results and errors handed back to
the model, and the model's content kept verbatim (thought signatures included).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from fastmcp.exceptions import FastMCPError
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from mcp.types import Tool

from agent.declarations import function_declarations
from agent.events import DeltaEvent, DoneEvent, Event, ModelError, ToolCallEvent, ToolResultEvent
from agent.prompt import system_instruction
from storage.conversations import ConversationRepository, MessagePublic, title_from

log = logging.getLogger(__name__)

# google-genai 3.x sends with httpx2 (a fork whose exceptions are not httpx's) when it is
# installed, and with httpx otherwise: transport failures of both must become model errors.
_TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException,)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,)
try:
    import httpx2
except ImportError:  # pragma: no cover - an SDK that still uses httpx alone
    pass
else:
    _TIMEOUTS += (httpx2.TimeoutException,)
    _TRANSPORT_ERRORS += (httpx2.HTTPError,)

MAX_ROUNDS = 8
HISTORY_MESSAGES = 40
BOUND_REPLY = (
    "I stopped after {rounds} rounds of tool calls without finishing. Please try again with a "
    "simpler or more specific request."
)


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
    max_rounds: int = MAX_ROUNDS
    _declarations: list[types.FunctionDeclaration] | None = field(default=None, init=False)

    async def aclose(self) -> None:
        """Close the model client's connections (at application shutdown)."""
        await self.client.aio.aclose()

    async def start(self, user_id: str, message: str, conversation_id: str | None) -> ChatTurn:
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
            self._declarations = function_declarations(await self.tools.tools())
        return ChatTurn(self, user_id, conversation_id, history_contents(history))

    def config(self) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=system_instruction(datetime.now(UTC).date()),
            tools=[types.Tool(function_declarations=self._declarations)],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )


@dataclass
class ChatTurn:
    agent: ChatAgent
    user_id: str
    conversation_id: str
    contents: list[types.Content]

    async def run(self, *, stream: bool) -> AsyncIterator[Event]:
        """The turn's events, ending with `DoneEvent`; a model failure raises `ModelError`."""
        agent = self.agent
        config = agent.config()
        calls_made: list[dict[str, Any]] = []
        reply: str | None = None
        for _ in range(agent.max_rounds):
            parts: list[types.Part] = []
            async for part in self._ask(config, stream=stream):
                parts.append(part)
                if part.text and not part.thought:
                    yield DeltaEvent(part.text)
            if not parts:
                raise ModelError(502, "The model returned no answer.")
            self.contents.append(types.Content(role="model", parts=parts))
            function_calls = [part.function_call for part in parts if part.function_call]
            if not function_calls:
                reply = "".join(p.text for p in parts if p.text and not p.thought).strip()
                break
            responses: list[types.Part] = []
            for call in function_calls:
                call_id = call.id or f"call_{uuid.uuid4().hex[:12]}"
                name = call.name or ""
                arguments = dict(call.args or {})
                yield ToolCallEvent(call_id, name, arguments)
                outcome = await self._execute(name, arguments)
                yield ToolResultEvent(call_id, name, outcome)
                # A failed call is kept as its error; a successful one as its result.
                recorded = outcome if "error" in outcome else outcome["result"]
                calls_made.append({"name": name, "arguments": arguments, "result": recorded})
                responses.append(
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=call.id, name=name, response=outcome
                        )
                    )
                )
            self.contents.append(types.Content(role="user", parts=responses))
        if reply is None:
            reply = BOUND_REPLY.format(rounds=agent.max_rounds)
            yield DeltaEvent(reply)
        # Only now, with the model's answer in hand, is anything stored for the assistant.
        await agent.conversations.add_message(
            self.user_id, self.conversation_id, "assistant", reply, calls_made or None
        )
        yield DoneEvent(
            {"conversation_id": self.conversation_id, "response": reply, "tool_calls": calls_made}
        )

    async def _ask(
        self, config: types.GenerateContentConfig, *, stream: bool
    ) -> AsyncIterator[types.Part]:
        models = self.agent.client.aio.models
        try:
            if stream:
                chunks = await models.generate_content_stream(
                    model=self.agent.model, contents=self.contents, config=config
                )
                async for chunk in chunks:
                    for part in _parts(chunk):
                        yield part
            else:
                response = await models.generate_content(
                    model=self.agent.model, contents=self.contents, config=config
                )
                for part in _parts(response):
                    yield part
        except genai_errors.APIError as exc:
            raise _model_error(exc) from exc
        except genai_errors.UnknownApiResponseError as exc:
            log.warning("unreadable answer from the model: %s", exc)
            raise ModelError(502, "The model sent an answer that could not be read.") from exc
        except _TIMEOUTS as exc:
            raise ModelError(504, "The model did not answer in time.") from exc
        except _TRANSPORT_ERRORS as exc:
            log.warning("could not reach the model: %s", exc)
            raise ModelError(502, "The model could not be reached.") from exc

    async def _execute(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"result": await self.agent.tools.call(self.user_id, name, arguments)}
        except FastMCPError as exc:  # tool errors, unknown tools included
            return {"error": str(exc) or "The tool failed."}


def _parts(response: types.GenerateContentResponse) -> list[types.Part]:
    if not response.candidates:
        return []
    content = response.candidates[0].content
    return list(content.parts or []) if content else []


def _model_error(exc: genai_errors.APIError) -> ModelError:
    if exc.code == 429:
        return ModelError(
            503,
            "The model is busy (rate-limited); try again shortly.",
            retry_after=_suggested_wait(exc),
        )
    if exc.code == 504:
        return ModelError(504, "The model did not answer in time.")
    log.warning("the model answered %s: %s", exc.code, exc.message)
    return ModelError(502, f"The model failed to answer (HTTP {exc.code}).")


def _suggested_wait(exc: genai_errors.APIError, default_s: int = 30) -> int:
    """Seconds to wait, from the RetryInfo a 429 may carry (`"retryDelay": "17s"`)."""
    details = (
        exc.details.get("error", {}).get("details", []) if isinstance(exc.details, dict) else []
    )
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(1, math.ceil(float(delay[:-1])))
            except ValueError:
                break
    return default_s


def history_contents(messages: Sequence[MessagePublic]) -> list[types.Content]:
    """Stored messages as Gemini contents; earlier tool calls become call/response pairs."""
    contents: list[types.Content] = []
    for message in messages:
        if message.role == "user":
            contents.append(types.Content(role="user", parts=[types.Part(text=message.content)]))
            continue
        if not contents:
            continue  # the window starts mid-exchange: the model must not speak first
        if message.tool_calls:
            calls = [
                types.Part(function_call=types.FunctionCall(name=c["name"], args=c["arguments"]))
                for c in message.tool_calls
            ]
            responses = [
                types.Part(
                    function_response=types.FunctionResponse(
                        name=c["name"], response=_as_response(c["result"])
                    )
                )
                for c in message.tool_calls
            ]
            contents.append(types.Content(role="model", parts=calls))
            contents.append(types.Content(role="user", parts=responses))
        contents.append(types.Content(role="model", parts=[types.Part(text=message.content)]))
    return contents


def _as_response(result: Any) -> dict[str, Any]:
    if isinstance(result, dict) and set(result) == {"error"}:
        return {"error": result["error"]}
    return {"result": result}
