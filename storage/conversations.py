"""The conversation repository: chat conversations and their messages, scoped to one user."""

from __future__ import annotations

import builtins  # `list` is also a method name below
import math
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from storage.database import Database
from storage.errors import ConversationBusyError, ConversationNotFoundError
from storage.models import MAX_TITLE, Conversation, Message
from storage.types import utcnow

_conversation: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
_message: sa.Table = Message.__table__  # type: ignore[attr-defined]

Role = Literal["user", "assistant"]


class ConversationPublic(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class MessagePublic(BaseModel):
    id: int
    role: Role
    content: str
    tool_calls: builtins.list[dict[str, Any]] | None
    created_at: datetime


class MessageRecord(MessagePublic):
    """A stored message with the agent's own record of its turn (see `Message.turn`)."""

    turn: dict[str, Any] | None


class ConversationDetail(ConversationPublic):
    messages: builtins.list[MessagePublic]


def title_from(message: str) -> str:
    """A conversation's title: the start of its first message, on one line."""
    line = " ".join(message.split())
    return line if len(line) <= 80 else line[:79].rstrip() + "…"


# Built once, like the task statements: the columns each answer reads.
_CONVERSATION_COLUMNS = [_conversation.c[name] for name in ConversationPublic.model_fields]
_MESSAGE_COLUMNS = [_message.c[name] for name in MessagePublic.model_fields]
_RECORD_COLUMNS = [_message.c[name] for name in MessageRecord.model_fields]


class ConversationRepository:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def create(self, user_id: str, title: str) -> ConversationPublic:
        now = self._clock()
        values = {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "title": title[:MAX_TITLE],
            "created_at": now,
            "updated_at": now,
        }
        async with self._db.autocommit() as conn:
            await conn.execute(sa.insert(_conversation).values(values))
        return ConversationPublic.model_validate(values)

    async def open(self, user_id: str, conversation_id: str, title: str) -> ConversationPublic:
        """The user's conversation of this id, created with `title` if no conversation has it
        (chat UIs name new conversations themselves); another user's id is not found."""
        now = self._clock()
        values = {
            "id": conversation_id,
            "user_id": user_id,
            "title": title[:MAX_TITLE],
            "created_at": now,
            "updated_at": now,
        }
        async with self._db.writing() as conn:
            # Inside the write transaction, so that two first messages cannot both insert.
            found = (
                await conn.execute(
                    sa.select(*_CONVERSATION_COLUMNS, _conversation.c.user_id).where(
                        _conversation.c.id == conversation_id
                    )
                )
            ).one_or_none()
            if found is None:
                await conn.execute(sa.insert(_conversation).values(values))
                return ConversationPublic.model_validate(values)
        if found.user_id != user_id:
            raise ConversationNotFoundError(conversation_id)
        return ConversationPublic.model_validate(found._mapping)

    async def rename(self, user_id: str, conversation_id: str, title: str) -> None:
        async with self._db.writing() as conn:
            touched = await conn.execute(
                sa.update(_conversation)
                .where(_conversation.c.id == conversation_id, _conversation.c.user_id == user_id)
                .values(title=title[:MAX_TITLE])
            )
        if touched.rowcount == 0:
            raise ConversationNotFoundError(conversation_id)

    async def get(self, user_id: str, conversation_id: str) -> ConversationPublic:
        async with self._db.autocommit() as conn:
            row = (await conn.execute(self._select(user_id, conversation_id))).one_or_none()
        if row is None:
            raise ConversationNotFoundError(conversation_id)
        return ConversationPublic.model_validate(row._mapping)

    async def detail(
        self,
        user_id: str,
        conversation_id: str,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> ConversationDetail:
        """The conversation with its messages, oldest first: all of them, or the last `limit`
        of those older than message `before`."""
        statement = sa.select(*_MESSAGE_COLUMNS).where(
            _message.c.conversation_id == conversation_id
        )
        if before is not None:
            statement = statement.where(_message.c.id < before)
        statement = statement.order_by(_message.c.id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        async with self._db.autocommit() as conn:
            row = (await conn.execute(self._select(user_id, conversation_id))).one_or_none()
            if row is None:
                raise ConversationNotFoundError(conversation_id)
            messages = (await conn.execute(statement)).all()
        return ConversationDetail(
            **row._mapping,
            messages=[MessagePublic.model_validate(m._mapping) for m in reversed(messages)],
        )

    async def list(self, user_id: str) -> builtins.list[ConversationPublic]:
        """The user's conversations, most recently active first."""
        statement = (
            sa.select(*_CONVERSATION_COLUMNS)
            .where(_conversation.c.user_id == user_id)
            .order_by(_conversation.c.updated_at.desc(), _conversation.c.id.desc())
        )
        async with self._db.autocommit() as conn:
            rows = (await conn.execute(statement)).all()
        return [ConversationPublic.model_validate(row._mapping) for row in rows]

    async def delete(self, user_id: str, conversation_id: str) -> None:
        statement = sa.delete(_conversation).where(
            _conversation.c.id == conversation_id, _conversation.c.user_id == user_id
        )
        async with self._db.writing() as conn:
            # Messages go first so that deletion does not depend on ON DELETE CASCADE support.
            owned = (await conn.execute(self._select(user_id, conversation_id))).one_or_none()
            if owned is None:
                raise ConversationNotFoundError(conversation_id)
            await conn.execute(
                sa.delete(_message).where(_message.c.conversation_id == conversation_id)
            )
            await conn.execute(statement)

    async def add_message(
        self,
        user_id: str,
        conversation_id: str,
        role: Role,
        content: str,
        tool_calls: builtins.list[dict[str, Any]] | None = None,
        turn: dict[str, Any] | None = None,
    ) -> MessagePublic:
        now = self._clock()
        values = {
            "conversation_id": conversation_id,
            "role": role,
            # A model may write U+0000, which PostgreSQL cannot store in text (SQLite can): its
            # words are kept on both alike, the NUL as U+FFFD. (JSON columns take it escaped.)
            "content": content.replace("\x00", "\ufffd"),
            "tool_calls": tool_calls,
            "turn": turn,
            "created_at": now,
        }
        async with self._db.writing() as conn:
            touched = await conn.execute(
                sa.update(_conversation)
                .where(_conversation.c.id == conversation_id, _conversation.c.user_id == user_id)
                .values(updated_at=now)
            )
            if touched.rowcount == 0:
                raise ConversationNotFoundError(conversation_id)
            row = (
                await conn.execute(sa.insert(_message).values(values).returning(*_MESSAGE_COLUMNS))
            ).one()
        return MessagePublic.model_validate(row._mapping)

    async def update_message(
        self,
        user_id: str,
        conversation_id: str,
        message_id: int,
        content: str,
        tool_calls: builtins.list[dict[str, Any]] | None,
        turn: dict[str, Any] | None,
    ) -> None:
        """Rewrite a message of the user's conversation (a reply stored as its turn goes on)."""
        now = self._clock()
        async with self._db.writing() as conn:
            touched = await conn.execute(
                sa.update(_conversation)
                .where(_conversation.c.id == conversation_id, _conversation.c.user_id == user_id)
                .values(updated_at=now)
            )
            if touched.rowcount == 0:
                raise ConversationNotFoundError(conversation_id)
            await conn.execute(
                sa.update(_message)
                .where(_message.c.id == message_id, _message.c.conversation_id == conversation_id)
                .values(content=content.replace("\x00", "\ufffd"), tool_calls=tool_calls, turn=turn)
            )

    async def claim_turn(self, user_id: str, conversation_id: str, lease_s: float) -> str:
        """Take the conversation's turn lease for `lease_s` seconds; its token, to give back
        with `release_turn`. The database decides, so two processes cannot both hold it;
        a lease whose holder died lapses when it expires. Raises `ConversationBusyError`
        while another turn holds it, `ConversationNotFoundError` unless it is the user's."""
        now = self._clock()
        token = uuid.uuid4().hex
        mine = (_conversation.c.id == conversation_id, _conversation.c.user_id == user_id)
        async with self._db.autocommit() as conn:
            taken = await conn.execute(
                sa.update(_conversation)
                .where(
                    *mine,
                    sa.or_(
                        _conversation.c.turn_lease.is_(None),
                        _conversation.c.turn_lease_until <= now,
                    ),
                )
                .values(turn_lease=token, turn_lease_until=now + timedelta(seconds=lease_s))
            )
            if taken.rowcount == 1:
                return token
            until = (
                await conn.execute(sa.select(_conversation.c.turn_lease_until).where(*mine))
            ).one_or_none()
        if until is None:
            raise ConversationNotFoundError(conversation_id)
        remaining = (until[0] - now).total_seconds() if until[0] is not None else 1
        raise ConversationBusyError(conversation_id, max(1, math.ceil(remaining)))

    async def release_turn(self, conversation_id: str, token: str) -> None:
        """Give the turn lease back (a lease already lapsed and taken by another is not
        touched)."""
        async with self._db.autocommit() as conn:
            await conn.execute(
                sa.update(_conversation)
                .where(_conversation.c.id == conversation_id, _conversation.c.turn_lease == token)
                .values(turn_lease=None, turn_lease_until=None)
            )

    async def recent_messages(
        self, user_id: str, conversation_id: str, limit: int = 40
    ) -> builtins.list[MessageRecord]:
        """The conversation's last `limit` messages, oldest first, with their turn records."""
        inner = (
            sa.select(*_RECORD_COLUMNS)
            .join(_conversation, _conversation.c.id == _message.c.conversation_id)
            .where(
                _message.c.conversation_id == conversation_id,
                _conversation.c.user_id == user_id,
            )
            .order_by(_message.c.id.desc())
            .limit(limit)
        )
        async with self._db.autocommit() as conn:
            rows = (await conn.execute(inner)).all()
        return [MessageRecord.model_validate(row._mapping) for row in reversed(rows)]

    def _select(self, user_id: str, conversation_id: str) -> sa.Select[Any]:
        return sa.select(*_CONVERSATION_COLUMNS).where(
            _conversation.c.id == conversation_id, _conversation.c.user_id == user_id
        )
