"""The change log: every task write, numbered in commit order, for delta sync and live events.

Revision ID: 0007_changes
Revises: 0006_chat_turn_lock
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Written out here rather than imported, so this revision keeps meaning what it meant.
UTC_TIMESTAMP = sa.DateTime(timezone=True)

revision: str = "0007_changes"
down_revision: str | None = "0006_chat_turn_lock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("task", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_change_user_seq", "change", ["user_id", "seq"])
    op.create_table(
        "change_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO change_head (id, seq) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("change_head")
    op.drop_index("ix_change_user_seq", table_name="change")
    op.drop_table("change")
