"""The change log written by the database, and numbered without making writers queue.

A trigger on `task` appends every task write's change, so that no write path can forget it and
a write that is one statement stays one (one round trip, in autocommit). Before, the repository
appended each change after the write in a transaction around both (BEGIN, write, append,
COMMIT), and took the next number from the `change_head` row, whose lock made every write of
the server commit one after another, as did the NOTIFY each sent inside its transaction
(PostgreSQL serialises the commits of notifying transactions).

PostgreSQL: numbers come from the sequence `change_seq`, taken after the write's transaction has
its id; readers only read past numbers whose writers have ended (storage.changes), and the
writing process sends the NOTIFY after its commit (storage.change_notify). SQLite runs one
writer at a time, so there the trigger still counts in `change_head` (dense, in commit order).
`change_head.pruned_through` records what pruning removed, for the 410 a stale cursor gets.

The task's JSON is built here column by column; `storage.changes` reads it back through the task
model (SQLite's timestamps and 0/1 booleans become what the API sends). A column added to `task`
later must be added to both by a new revision; a test compares every logged task with the task
as the repository returns it.

Revision ID: 0008_change_triggers
Revises: 0007_changes
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_change_triggers"
down_revision: str | None = "0007_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The task's public columns, written out so that this revision keeps meaning what it meant.
_PUBLIC = (
    "id",
    "user_id",
    "title",
    "description",
    "completed",
    "priority",
    "due_date",
    "tags",
    "list_id",
    "recurrence",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
)


def _pairs(row: str, *, tags: str) -> str:
    return ", ".join(
        f"'{name}', {tags.format(row=row) if name == 'tags' else f'{row}.{name}'}"
        for name in _PUBLIC
    )


_POSTGRESQL = f"""
CREATE FUNCTION todo_log_task_change() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    -- The transaction already has its id (it wrote the row), so any reader that saw this
    -- number issued waits for it to end before reading past it (storage.changes).
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change (seq, user_id, op, task_id, version, task, at)
        VALUES (nextval('change_seq'), OLD.user_id, 'deleted', OLD.id, OLD.version, NULL,
                clock_timestamp());
    ELSE
        INSERT INTO change (seq, user_id, op, task_id, version, task, at)
        VALUES (
            nextval('change_seq'), NEW.user_id,
            CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'updated' END,
            NEW.id, NEW.version, json_build_object({_pairs("NEW", tags="{row}.tags")}),
            clock_timestamp()
        );
    END IF;
    RETURN NULL;
END
$body$
"""  # noqa: S608 (built of constants)
_POSTGRESQL_TRIGGER = """
CREATE TRIGGER task_change_log AFTER INSERT OR UPDATE OR DELETE ON task
FOR EACH ROW EXECUTE FUNCTION todo_log_task_change()
"""
# The sequence goes on from the counter that numbered the changes so far.
_POSTGRESQL_SEQUENCE = (
    "CREATE SEQUENCE change_seq AS bigint",
    "SELECT setval('change_seq', seq) FROM change_head WHERE id = 1 AND seq > 0",
)


# SQLite: one trigger per operation (a trigger names one), each two statements in the write's
# transaction; SQLite runs one writer at a time, so the counter needs no lock. Timestamps are
# stored as SQLAlchemy stores them there (microseconds; 'now' has milliseconds).
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
_SQLITE_TASK = f"json_object({_pairs('NEW', tags='json({row}.tags)')})"


def _sqlite_trigger(name: str, event: str, row: str, op_name: str, task: str) -> str:
    return f"""
CREATE TRIGGER {name} AFTER {event} ON task BEGIN
    UPDATE change_head SET seq = seq + 1 WHERE id = 1;
    INSERT INTO change (seq, user_id, op, task_id, version, task, at)
    SELECT seq, {row}.user_id, '{op_name}', {row}.id, {row}.version, {task}, {_SQLITE_NOW}
    FROM change_head WHERE id = 1;
END
"""  # noqa: S608 (built of constants)


_SQLITE = (
    _sqlite_trigger("task_change_created", "INSERT", "NEW", "created", _SQLITE_TASK),
    _sqlite_trigger("task_change_updated", "UPDATE", "NEW", "updated", _SQLITE_TASK),
    _sqlite_trigger("task_change_deleted", "DELETE", "OLD", "deleted", "NULL"),
)


def upgrade() -> None:
    # What pruning has removed: a cursor below it has missed changes (HTTP 410).
    op.add_column(
        "change_head",
        sa.Column("pruned_through", sa.BigInteger(), nullable=False, server_default="0"),
    )
    # Changes pruned under the previous revision: everything below the oldest kept (numbers
    # were dense), or everything issued when none is kept.
    op.execute(
        "UPDATE change_head SET pruned_through = "
        "COALESCE((SELECT MIN(seq) - 1 FROM change), seq) WHERE id = 1"
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in (*_POSTGRESQL_SEQUENCE, _POSTGRESQL, _POSTGRESQL_TRIGGER):
            op.execute(statement)
    else:
        for trigger in _SQLITE:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER task_change_log ON task")
        op.execute("DROP FUNCTION todo_log_task_change()")
        # The counter takes over again from where the sequence got to.
        op.execute(
            "UPDATE change_head SET seq = GREATEST(seq, COALESCE("
            "(SELECT last_value FROM change_seq WHERE is_called), 0)) WHERE id = 1"
        )
        op.execute("DROP SEQUENCE change_seq")
    else:
        for name in ("task_change_created", "task_change_updated", "task_change_deleted"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_column("change_head", "pruned_through")
