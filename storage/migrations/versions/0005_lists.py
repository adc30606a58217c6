"""Lists of tasks, recurring tasks and completion times.

A `list` table; on `task`, `list_id` (null: the inbox), `recurrence` (an RRULE), `completed_at`
and `next_id` (the occurrence its completion created); on `task_count`, the user's lists.
Tasks completed before this revision get `completed_at` = their `updated_at`: the last change
of a completed task is, as far as anything recorded says, when it was completed.

Revision ID: 0005_lists
Revises: 0004_shared_limits
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_lists"
down_revision: str | None = "0004_shared_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLDED_TEXT = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", FOLDED_TEXT, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ux_list_user_name", "list", ["user_id", "name_key"], unique=True)
    # Plain ADD COLUMNs (nullable, no default to write): no table copy on SQLite, and on
    # PostgreSQL no rewrite of the task table.
    op.add_column("task", sa.Column("list_id", sa.Integer(), nullable=True))
    op.add_column("task", sa.Column("recurrence", sa.String(length=200), nullable=True))
    op.add_column("task", sa.Column("completed_at", UTC_DATETIME, nullable=True))
    op.add_column("task", sa.Column("next_id", sa.Integer(), nullable=True))
    op.create_index("ix_task_user_list", "task", ["user_id", "list_id", "created_at", "id"])
    op.execute("UPDATE task SET completed_at = updated_at WHERE completed")
    op.add_column(
        "task_count", sa.Column("lists", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("task_count") as batch:
        batch.drop_column("lists")
    op.drop_index("ix_task_user_list", table_name="task")
    with op.batch_alter_table("task") as batch:
        for column in ("next_id", "completed_at", "recurrence", "list_id"):
            batch.drop_column(column)
    op.drop_index("ux_list_user_name", table_name="list")
    op.drop_table("list")
