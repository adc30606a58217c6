"""Starting a chat turn, for `/chat` and the chat UIs' protocols (ChatKit, AI SDK) alike: one
rate limit, one set of refusals, and one place that turns a UI's confirm or cancel action into
what the agent understands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import anyio
from starlette.requests import Request

from agent.consent import Decision
from agent.events import Event, ModelError
from http_adapter.context import AppContext
from http_adapter.problems import (
    CONVERSATION_BUSY,
    NO_CHAT,
    SHUTTING_DOWN,
    TOO_MANY_CHAT_MESSAGES,
    HTTPProblem,
    storage_problem,
)
from http_adapter.shutdown import Shutdown
from storage.conversations import ConversationRepository, title_from
from storage.errors import (
    ConversationBusyError,
    ConversationNotFoundError,
    RateLimitedError,
    StorageError,
)
from storage.limits import RateLimits

if TYPE_CHECKING:
    from agent.chat import ChatAgent, ChatTurn

log = logging.getLogger(__name__)

CHAT_SCOPE = "chat"
CHAT_WINDOW_S = 60.0
BUSY_RETRY_AFTER_S = 2
NOT_FOUND = "Conversation not found."


def decision_of(approve: bool) -> Decision:
    """A UI's confirm (or cancel) action on a delete proposal, as the agent takes it: the
    proposal is carried out (or dropped) without asking the model."""
    return "confirm" if approve else "cancel"


@dataclass
class TurnStarter:
    ctx: AppContext
    conversations: ConversationRepository
    agent: ChatAgent | None
    limits: RateLimits

    async def start(
        self,
        user: str,
        message: str,
        conversation_id: str | None,
        *,
        create: bool = False,
        decision: Decision | None = None,
        timezone: ZoneInfo | None = None,
        retry_of: int | None = None,
    ) -> ChatTurn:
        """Count the turn against the user's limit, store the message and hand back the turn
        (not yet run). No `conversation_id` opens a new conversation; `create` opens the
        conversation of that id if it does not exist; `retry_of` is the stored message a UI's
        retry asks again (see `ChatAgent.start`). Raises `HTTPProblem` (429, 404, 409, 503)
        for what stops the turn from starting; a turn refused so costs no share of the limit."""
        agent = self.require_agent()
        settings = self.ctx.settings
        try:
            counted = await self.limits.count(
                CHAT_SCOPE, user, limit=settings.chat_rate_limit, window_s=CHAT_WINDOW_S
            )
        except RateLimitedError as exc:
            raise HTTPProblem(
                429, TOO_MANY_CHAT_MESSAGES, headers={"Retry-After": str(exc.retry_after_s)}
            ) from None
        except StorageError as exc:
            raise storage_problem(exc) from None
        try:
            if create and conversation_id is not None:
                await self.conversations.open(user, conversation_id, title_from(message))
            return await agent.start(
                user,
                message,
                conversation_id,
                timezone=timezone,
                decision=decision,
                retry_of=retry_of,
            )
        except ConversationNotFoundError:
            # A turn that names no conversation of the user's costs no model call.
            refusal = HTTPProblem(404, NOT_FOUND)
        except ConversationBusyError as exc:
            # One turn at a time: nothing is stored for this one, and it costs nothing.
            refusal = busy_problem(exc)
        except StorageError as exc:
            raise storage_problem(exc) from None
        try:
            await self.limits.give_back(counted)
        except StorageError as exc:
            raise storage_problem(exc) from None
        raise refusal

    def require_agent(self) -> ChatAgent:
        if self.agent is None:
            raise HTTPProblem(503, NO_CHAT)
        return self.agent


def busy_problem(exc: ConversationBusyError) -> HTTPProblem:
    # The running turn most likely ends long before its lease would lapse: ask again soon.
    retry_after = min(exc.retry_after_s, BUSY_RETRY_AFTER_S)
    return HTTPProblem(409, CONVERSATION_BUSY, headers={"Retry-After": str(retry_after)})


def turn_failure(exc: Exception) -> HTTPProblem | None:
    """What a running turn's failure tells the user; None for a failure nobody foresaw."""
    if isinstance(exc, HTTPProblem):
        return exc
    if isinstance(exc, ModelError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return HTTPProblem(exc.status, exc.detail, headers=headers)
    if isinstance(exc, StorageError):
        return storage_problem(exc)
    return None


async def turn_events(turn: ChatTurn, shutdown: Shutdown) -> AsyncIterator[Event]:
    """The turn's events as they come, run in a task of its own; its failure is raised after
    the last event. When the reader stops (the client stopped the answer or left), the turn is
    cancelled, and records what it did as any interrupted turn does. The turn runs within
    `shutdown.turn()`, and ends as `/chat`'s do when the shutdown's grace period does: cancelled
    (its record kept, before the lifespan closes the database), its failure `SHUTTING_DOWN`,
    which each protocol tells in its own error form."""
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    ended = asyncio.Event()

    async def run() -> None:
        try:
            with shutdown.turn():
                await turn.run(queue.put)
        finally:
            queue.put_nowait(None)

    async def end_on_shutdown() -> None:
        await shutdown.wait()
        ended.set()
        task.cancel()

    task = asyncio.create_task(run())
    watch = asyncio.create_task(end_on_shutdown())
    try:
        while (event := await queue.get()) is not None:
            yield event
        await asyncio.wait({task})
        if task.cancelled() and ended.is_set():
            log.info("a chat stream was ended by the shutdown")
            raise HTTPProblem(SHUTTING_DOWN.status, SHUTTING_DOWN.detail)
        task.result()  # the turn's failure, if it failed
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            # Waited for without handing our own cancellation on to it, as awaiting the task
            # itself would (the reader is cancelled when its client leaves): the turn's
            # clean-up, its record and its lease given back, must not be cut short.
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task})


async def read_bytes(request: Request, limit: int) -> bytes:
    """The request body, 413 beyond `limit` bytes."""
    too_large = HTTPProblem(413, f"The request body is larger than {limit // 1024} KiB.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)
