"""Limits shared by every process: per-user rate windows, and idempotency keys claimed while
their create runs.

Revision ID: 0004_shared_limits
Revises: 0003_chat_turns
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_shared_limits"
down_revision: str | None = "0003_chat_turns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_window",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "user_id"),
    )
    # A claimed key has no response until its create commits. (SQLite alters a column by
    # copying the table, which batch mode does.)
    with op.batch_alter_table("idempotency_key") as batch:
        batch.alter_column("response", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_key WHERE response IS NULL")
    with op.batch_alter_table("idempotency_key") as batch:
        batch.alter_column("response", existing_type=sa.JSON(), nullable=False)
    op.drop_table("rate_window")
