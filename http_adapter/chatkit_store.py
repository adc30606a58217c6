"""A ChatKit `Store` over our conversations (needs the `chatkit` extra).

Threads are conversations (same ids), items are messages (see `chatkit_items`). Messages are
written by the agent, never by ChatKit: a user message ChatKit adds starts a chat turn (the
agent stores the message), and the items a turn streams are already stored by the agent when
ChatKit asks to save them. Nothing is deleted item by item: the stored history is the truth.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, UserMessageItem

from http_adapter.chat_turns import TurnStarter
from http_adapter.chatkit_items import stored_items
from http_adapter.problems import HTTPProblem
from storage.conversations import (
    ConversationPublic,
    ConversationRepository,
    title_from,
)
from storage.errors import ConversationNotFoundError

if TYPE_CHECKING:
    from agent.chat import ChatTurn

NO_ATTACHMENTS = "This server does not take attachments: send the text of the message."
_ALL_MESSAGES = 100_000


@dataclass
class RequestContext:
    """One ChatKit request: whose it is, and the turn its user message started."""

    user: str
    turn: ChatTurn | None = None
    base: str = ""  # the id of the turn's user message, which names its items
    failure: HTTPProblem | None = None
    new_thread: str | None = None  # a thread created by this request, opened by its first turn
    titled: tuple[str, str] | None = None  # (thread, title) as stored by this request

    async def abandon_turn(self) -> None:
        """The answer ended: a turn it started that never ran gives its lease back."""
        if self.turn is not None:
            await self.turn.abandon()


class ConversationStore(Store[RequestContext]):
    def __init__(self, conversations: ConversationRepository, starter: TurnStarter) -> None:
        self.conversations = conversations
        self.starter = starter

    def generate_thread_id(self, context: RequestContext) -> str:
        return context.new_thread or str(uuid.uuid4())

    async def open_thread(self, content: Sequence[Any], context: RequestContext) -> None:
        """Start the first turn of the thread a `threads.create` request makes, before the
        package announces the thread: the turn creates its conversation, as `/chat`'s first
        turn does (no lookup of an id nobody can have used yet), titled by the message; the
        thread takes its id. Raises `HTTPProblem` when the turn is refused (the rate limit);
        nothing is stored then, the conversation included, so the client is told the error
        alone rather than shown a thread that does not exist."""
        text = message_text(content)
        context.turn = await self.starter.start(context.user, text, None)
        thread_id = context.turn.conversation_id
        context.new_thread = thread_id
        context.titled = (thread_id, title_from(text))
        context.base = str(context.turn.message_id)

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        return _thread(await self._conversation(context.user, thread_id))

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        if thread.title is None:
            return  # a new thread: its conversation was opened by its first turn
        if context.titled == (thread.id, thread.title):
            return  # stored so by this request already
        # A NUL is kept as U+FFFD, as in messages: PostgreSQL cannot store it.
        thread.title = thread.title.replace("\x00", "\ufffd")
        found = await self.conversations.open(context.user, thread.id, thread.title)
        if thread.title != found.title:
            await self.conversations.rename(context.user, thread.id, thread.title)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        found = await self.conversations.list(context.user)  # most recent first
        if order == "asc":
            found.reverse()
        return _page([_thread(c) for c in found], after, limit)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: RequestContext
    ) -> Page[ThreadItem]:
        items = await self.items(context.user, thread_id)
        if order == "desc":
            items.reverse()
        return _page(items, after, limit)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        for item in await self.items(context.user, thread_id):
            if item.id == item_id:
                return item
        raise NotFoundError(f"Item {item_id} not found.")

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        if not isinstance(item, UserMessageItem) or context.failure:
            return  # the agent stores what its turn did
        if context.turn is None:
            try:
                context.turn = await self.starter.start(
                    context.user, message_text(item.content), thread_id
                )
            except HTTPProblem as exc:
                # Told as the turn's error, in the stream that shows the message.
                context.failure = exc
                return
            context.base = str(context.turn.message_id)
        # Shown with the id it is stored under, so that retrying it finds it.
        item.id = context.base

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        pass  # items are stored by the agent as its turn runs

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        pass  # a retry answers again after the message; what was said stays in the history

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await self._conversation(context.user, thread_id)
        try:
            await self.conversations.delete(context.user, thread_id)
        except ConversationNotFoundError:
            raise NotFoundError(f"Thread {thread_id} not found.") from None

    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        raise NotFoundError(NO_ATTACHMENTS)

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        raise NotFoundError(NO_ATTACHMENTS)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        raise NotFoundError(NO_ATTACHMENTS)

    async def items(self, user: str, thread_id: str) -> list[ThreadItem]:
        await self._conversation(user, thread_id)
        messages = await self.conversations.recent_messages(user, thread_id, _ALL_MESSAGES)
        return stored_items(thread_id, messages)

    async def _conversation(self, user: str, thread_id: str) -> ConversationPublic:
        if "\x00" in thread_id:  # ids are UUIDs; PostgreSQL cannot even compare a NUL
            raise NotFoundError(f"Thread {thread_id!r} not found.")
        try:
            return await self.conversations.get(user, thread_id)
        except ConversationNotFoundError:
            raise NotFoundError(f"Thread {thread_id} not found.") from None


def message_text(content: Sequence[Any]) -> str:
    """The text of a user message's content parts."""
    return "\n".join(part.text for part in content).strip()


def _thread(conversation: ConversationPublic) -> ThreadMetadata:
    return ThreadMetadata(
        id=conversation.id, title=conversation.title or None, created_at=conversation.created_at
    )


def _page(records: list[Any], after: str | None, limit: int) -> Page[Any]:
    start = 0
    if after is not None:
        start = next((i + 1 for i, r in enumerate(records) if r.id == after), len(records))
    chosen = records[start : start + limit]
    has_more = start + limit < len(records)
    return Page(data=chosen, has_more=has_more, after=chosen[-1].id if chosen else None)
