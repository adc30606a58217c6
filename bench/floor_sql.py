"""The floor's SQL (`bench/floor.py`): the same table layout as todo-api's `task`,
`task_count`, `change` and `change_head`, the same change-log trigger, and one statement per
step where plain SQL allows."""

from __future__ import annotations

from typing import Any

# --- SQL ---------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS task (
    id serial PRIMARY KEY,
    user_id varchar(255) NOT NULL,
    title varchar(200) NOT NULL,
    title_key text COLLATE "C" NOT NULL,
    description text,
    description_key text COLLATE "C",
    completed boolean NOT NULL,
    priority varchar(6) NOT NULL CONSTRAINT ck_task_priority
        CHECK (priority IN ('low', 'medium', 'high')),
    due_date date,
    tags jsonb NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    list_id integer,
    recurrence varchar(200),
    completed_at timestamptz,
    next_id integer
);
CREATE INDEX IF NOT EXISTS ix_task_user_created ON task (user_id, created_at, id);
CREATE INDEX IF NOT EXISTS ix_task_user_due ON task (user_id, due_date);
CREATE INDEX IF NOT EXISTS ix_task_user_list ON task (user_id, list_id, created_at, id);
CREATE TABLE IF NOT EXISTS task_count (
    user_id varchar(255) PRIMARY KEY,
    tasks integer NOT NULL
);
CREATE TABLE IF NOT EXISTS change (
    seq bigint PRIMARY KEY,
    user_id varchar(255) NOT NULL,
    op varchar(8) NOT NULL,
    task_id integer NOT NULL,
    version integer NOT NULL,
    task json,
    at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_change_user_seq ON change (user_id, seq);
CREATE TABLE IF NOT EXISTS change_head (
    id integer PRIMARY KEY,
    seq bigint NOT NULL,
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO change_head (id, seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE SEQUENCE IF NOT EXISTS change_seq AS bigint;
-- The change log's trigger, as todo-api's migration 0008 creates it on PostgreSQL.
CREATE OR REPLACE FUNCTION todo_log_task_change() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change (seq, user_id, op, task_id, version, task, at)
        VALUES (nextval('change_seq'), OLD.user_id, 'deleted', OLD.id, OLD.version, NULL,
                clock_timestamp());
    ELSE
        INSERT INTO change (seq, user_id, op, task_id, version, task, at)
        VALUES (
            nextval('change_seq'), NEW.user_id,
            CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'updated' END,
            NEW.id, NEW.version, json_build_object(
                'id', NEW.id, 'user_id', NEW.user_id, 'title', NEW.title,
                'description', NEW.description, 'completed', NEW.completed,
                'priority', NEW.priority, 'due_date', NEW.due_date, 'tags', NEW.tags,
                'list_id', NEW.list_id, 'recurrence', NEW.recurrence,
                'completed_at', NEW.completed_at, 'created_at', NEW.created_at,
                'updated_at', NEW.updated_at, 'version', NEW.version),
            clock_timestamp()
        );
    END IF;
    RETURN NULL;
END
$body$;
DROP TRIGGER IF EXISTS task_change_log ON task;
CREATE TRIGGER task_change_log AFTER INSERT OR UPDATE OR DELETE ON task
FOR EACH ROW EXECUTE FUNCTION todo_log_task_change();
"""
COLUMNS = (
    "id, user_id, title, description, completed, priority, due_date, tags, list_id, "
    "recurrence, completed_at, version, created_at, updated_at"
)
_RANK = "(CASE priority WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 END)"
ORDER_BY: dict[str, str] = {
    "created_at": "created_at ASC",
    "-created_at": "created_at DESC",
    "due_date": "due_date IS NULL, due_date ASC",
    "-due_date": "due_date IS NULL, due_date DESC",
    "priority": f"{_RANK} ASC",
    "-priority": f"{_RANK} DESC",
    "title": "title_key ASC",
    "-title": "title_key DESC",
}
SELECT_ONE = f"SELECT {COLUMNS} FROM task WHERE id = $1 AND user_id = $2"
# The quota check and the insert in one statement: the user's count goes up only while it is
# under the quota ($10), and the task is written only if it did.
INSERT = f"""
WITH counted AS (
    INSERT INTO task_count (user_id, tasks) VALUES ($1, 1)
    ON CONFLICT (user_id) DO UPDATE SET tasks = task_count.tasks + 1
    WHERE task_count.tasks < $10
    RETURNING 1
)
INSERT INTO task (user_id, title, title_key, description, description_key, completed, priority,
                  due_date, tags, version, created_at, updated_at, completed_at)
SELECT $1, $2, $3, $4, $5, $6::boolean, $7, $8::date, $9::jsonb, 1, now(), now(),
       CASE WHEN $6::boolean THEN now() END
FROM counted
RETURNING {COLUMNS}
"""
DELETE = """
WITH gone AS ({delete} RETURNING id, version),
uncounted AS (
    UPDATE task_count SET tasks = tasks - (SELECT count(*) FROM gone) WHERE user_id = $2
)
SELECT id, version FROM gone
"""


def column_values(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "title" in values:
        values["title_key"] = values["title"].casefold()
    if "description" in values:
        described = values["description"]
        values["description_key"] = None if described is None else described.casefold()
    return values
