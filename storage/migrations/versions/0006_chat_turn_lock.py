"""One chat turn at a time per conversation: the lease of the turn now running, if any.

Revision ID: 0006_chat_turn_lock
Revises: 0005_lists
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_chat_turn_lock"
down_revision: str | None = "0005_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("turn_lease", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("turn_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("turn_lease_until")
        batch.drop_column("turn_lease")
