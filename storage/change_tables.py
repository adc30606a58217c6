"""The change log's tables: one row per task write (`change`, appended by a trigger on `task`)
and one row of bookkeeping (`change_head`), read by `storage.changes`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, SQLModel
from sqlmodel import Field as ColumnField

from storage.types import UTCDateTime

MAX_USER = 255  # as wide as every other user id column


class Change(SQLModel, table=True):
    """A task created, updated or deleted: the task as it then was (null when deleted) and the
    version behind its ETag. `seq` numbers the server's changes and only grows (storage.changes
    says how readers never pass one still to commit)."""

    __tablename__ = "change"
    __table_args__ = (sa.Index("ix_change_user_seq", "user_id", "seq"),)

    seq: int = ColumnField(sa_column=Column(sa.BigInteger, primary_key=True, autoincrement=False))
    user_id: str = ColumnField(max_length=MAX_USER)
    op: str = ColumnField(max_length=8)
    task_id: int
    version: int
    task: dict[str, Any] | None = ColumnField(
        default=None, sa_column=Column(sa.JSON(none_as_null=True), nullable=True)
    )
    at: datetime = ColumnField(sa_column=Column(UTCDateTime, nullable=False))


class ChangeHead(SQLModel, table=True):
    """One row. `seq`: on SQLite, the last `seq` issued (the log's trigger counts there; one
    writer at a time, so changes commit in `seq` order); on PostgreSQL the sequence
    `change_seq` numbers them instead and `seq` is what the counter had reached before it.
    `pruned_through`: pruning removed every change up to it."""

    __tablename__ = "change_head"

    id: int = ColumnField(sa_column=Column(sa.Integer, primary_key=True, autoincrement=False))
    seq: int = ColumnField(sa_column=Column(sa.BigInteger, nullable=False))
    pruned_through: int = ColumnField(
        default=0, sa_column=Column(sa.BigInteger, nullable=False, server_default="0")
    )
