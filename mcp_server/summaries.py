"""The readable text of tool results: what a host's model reads when it is shown only text.

Many hosts hand the model the text block and not the structured content, so the text says what
was found or done in a few lines: one line per task with what matters to the user (its id,
title, due date, priority when not medium, tags, whether it is done), not the fields the user
never sees (their user id, timestamps to the microsecond). A listing or a bulk call's report
never exceeds `BUDGET`, whatever the limit: it says how many it left out and how to get them.
One task's text is bounded by the field limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from mcp_server.dates import DueFilter
from storage.models import Priority, TaskPage, TaskPublic, TaskQuery, TaskResult

# UTF-8 bytes of a listing: about 2,000 tokens (task lines, with their ids and dates, come out
# at ~3 bytes a token), far under the 25k-token cap some hosts put on a tool result. A task line
# is at most ~2.2 KB (every field at its longest, in 4-byte characters), so some always fit.
BUDGET = 6_000
# Room kept for the line saying how many more there are.
_FOOTER = 160

_ORDERS = {
    "created_at": "oldest first",
    "-created_at": "newest first",
    "due_date": "soonest due first",
    "-due_date": "latest due first",
    "priority": "low priority first",
    "-priority": "high priority first",
    "title": "by title A-Z",
    "-title": "by title Z-A",
    "completed_at": "first done first",
    "-completed_at": "last done first",
}
_STATES = {"all": "", "pending": "pending ", "completed": "done "}
# Medium is the default: not worth a word.
_PRIORITIES = {
    Priority.low: ", low priority",
    Priority.medium: "",
    Priority.high: ", high priority",
}


def one_line(text: str) -> str:
    """User text on one line, so a title can never look like another line of the listing."""
    # Line breaks and tabs are not printable: most text is, and is returned at once.
    return text if text.isprintable() else " ".join(text.split())


def task_line(task: TaskPublic) -> str:
    """`#12 Buy milk — due 2026-12-01, high priority, tags: home, shop`."""
    # Built by concatenation: a listing makes one per task, on the path of every call.
    due, tags = task.due_date, task.tags
    details = (
        (", done" if task.completed else "")
        + ("" if due is None else f", due {due.isoformat()}")
        + _PRIORITIES[task.priority]
        + (", tags: " + one_line(", ".join(tags)) if tags else "")
        + ("" if task.list_id is None else f", list #{task.list_id}")
        + ("" if task.recurrence is None else f", repeats {task.recurrence}")
    )
    head = f"#{task.id} {one_line(task.title)}"
    return f"{head} — {details[2:]}" if details else head


def task_detail(task: TaskPublic) -> str:
    """One task with everything a person would want to read about it."""
    lines = [task_line(task), "Status: done." if task.completed else "Status: not done."]
    if task.description:
        lines.append(f"Description: {task.description}")
    lines.append(
        f"Created {task.created_at.date().isoformat()}, updated "
        f"{task.updated_at.date().isoformat()}; version {task.version}."
    )
    # Bounded by the field limits: at most ~6 KB, with every field at its longest.
    return "\n".join(lines)


def added(task: TaskPublic) -> str:
    return f"Added task {task_line(task)}."


def updated(task: TaskPublic) -> str:
    return f"Updated task {task_line(task)}."


def successor(task: TaskResult) -> str:
    """What a completion of a recurring task added, if anything."""
    if task.next_task_id is not None:
        return f" Its next occurrence was added as task #{task.next_task_id}."
    return ""


def completed(task: TaskPublic) -> str:
    state = "done" if task.completed else "not done"
    return f"Marked task #{task.id} {state}: {one_line(task.title)}."


def deleted(task: TaskPublic) -> str:
    return f"Deleted task #{task.id}: {one_line(task.title)}."


def listing(
    page: TaskPage,
    query: TaskQuery,
    *,
    today: date,
    due: DueFilter | None = None,
    budget: int = BUDGET,
    dated: bool = True,
) -> str:
    """A page of tasks under a heading saying what they are (and, if `dated`, which day is
    today), and how to get the rest."""
    what = _what(query, due, page.total)
    on = f" Today is {today.isoformat()}." if dated else ""
    if page.total == 0:
        return f"No {what}.{on}"
    if not page.tasks:
        return f"No {what} at offset {query.offset}: there are {page.total}.{on}"
    order = _ORDERS[query.sort]
    reserved = len(what.encode()) + 100  # the heading around `what`
    rendered, shown = _fit((task_line(task) for task in page.tasks), budget - reserved)
    everything = query.offset == 0 and shown == page.total
    count = f"{page.total}" if everything else f"{shown} of {page.total}"
    start = f", from offset {query.offset}" if query.offset else ""
    heading = f"{count} {what} ({order}{start}).{on}"
    text = [heading, *rendered]
    rest = page.total - query.offset - shown
    if rest > 0:
        text.append(
            f"{rest} more: call list_tasks with offset={query.offset + shown} and the same filters."
        )
    return "\n".join(text)


def outcomes(heading: str, done: Iterable[str], failed: Iterable[str]) -> str:
    """The result of a bulk call: its heading, what failed (always shown first), what was done."""
    failures = list(failed)
    successes = list(done)
    rendered, shown = _fit([*failures, *successes], BUDGET - len(heading.encode()))
    text = [heading, *rendered]
    if shown < len(failures) + len(successes):
        text.append(f"{len(failures) + len(successes) - shown} more not shown.")
    return "\n".join(text)


def _what(query: TaskQuery, due: DueFilter | None, count: int) -> str:
    """`pending tasks tagged "home" due on or before 2026-12-01`."""
    noun = "task" if count == 1 else "tasks"
    # An overdue listing is of pending tasks due before today: "overdue" says both.
    state = "overdue " if due == "overdue" else _STATES[query.status]
    words = [state + noun]
    if query.query is not None:
        words.append(f'matching "{one_line(query.query)}"')
    if query.priority is not None:
        words.append(f"of {query.priority.value} priority")
    if query.tag is not None:
        words.append(f'tagged "{one_line(query.tag)}"')
    before, after = query.due_before, query.due_after
    if due == "overdue":
        pass
    elif due == "today":
        words.append("due today")
    elif before is not None and before == after:
        words.append(f"due on {before.isoformat()}")
    elif before is not None and after is not None:
        words.append(f"due {after.isoformat()} to {before.isoformat()}")
    elif before is not None:
        words.append(f"due on or before {before.isoformat()}")
    elif after is not None:
        words.append(f"due on or after {after.isoformat()}")
    return " ".join(words)


def _fit(lines: Iterable[str], budget: int) -> tuple[list[str], int]:
    """As many lines as fit in the budget, with room left for a closing line."""
    used = _FOOTER
    kept: list[str] = []
    for line in lines:
        used += len(line.encode()) + 1
        if used > budget:
            break
        kept.append(line)
    return kept, len(kept)
