"""Per-user task counts, for a quota check that is one atomic step with the create.

Revision ID: 0002_task_count
Revises: 0001_initial
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_task_count"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_count",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    # Count the tasks there are; from now on every create and delete keeps the count.
    op.execute(
        "INSERT INTO task_count (user_id, tasks) "
        "SELECT user_id, count(*) FROM task GROUP BY user_id"
    )


def downgrade() -> None:
    op.drop_table("task_count")
