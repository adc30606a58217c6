"""Consent for destructive tool calls, decided by the server, not by the model.

A destructive call the model makes (a tool annotated `destructiveHint`, i.e. `delete_task`) is
never run in the turn that makes it: it becomes a proposal naming the task, its title and its
version (the ETag value, without quotes), stored with the assistant's reply, and the reply ends
with the server's own list of what would be deleted. It is carried out only by the user's next
turn: a message that is a plain yes and nothing else ("yes", "ok", "confirm", ...), or the UI's
confirm decision; anything else drops it. A task changed since the proposal (another version)
is not deleted, and the reply says so, naming its current title. Task text the model reads can
neither propose on the user's behalf nor confirm: confirmation comes from the user's turn only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from storage.conversations import MessageRecord

Decision = Literal["confirm", "cancel"]

MAX_PENDING = 50  # tasks one proposal may hold

# What the stored user message says when a UI decision came without words.
DECISION_WORDS: dict[Decision, str] = {"confirm": "Confirm", "cancel": "Cancel"}

_CONFIRMATIONS = frozenset(
    {
        "yes",
        "y",
        "yep",
        "yeah",
        "yes please",
        "ok",
        "okay",
        "ok please",
        "sure",
        "confirm",
        "confirmed",
        "i confirm",
        "yes confirm",
        "go ahead",
        "yes go ahead",
        "do it",
        "yes do it",
    }
)


def confirms(message: str) -> bool:
    """Whether the user's whole message is a plain yes (punctuation and case aside)."""
    words = re.sub(r"[^\w\s]", " ", message.lower()).split()
    return " ".join(words) in _CONFIRMATIONS


def pending_before(messages: Sequence[MessageRecord]) -> list[dict[str, Any]]:
    """The proposal of the assistant message just before the user's new (last) message: each
    `{"id", "task_id", "title", "version"}` (proposals stored in an older shape lapse)."""
    if len(messages) < 2 or messages[-2].role != "assistant" or messages[-2].turn is None:
        return []
    pending = messages[-2].turn.get("pending", [])
    return [p for p in pending if isinstance(p, dict) and {"task_id", "version"} <= set(p)]


def proposal(call_id: str, task: dict[str, Any]) -> dict[str, Any]:
    """A proposed delete of `task` (as `get_task` returned it)."""
    return {
        "id": call_id,
        "task_id": task["id"],
        "title": task.get("title", ""),
        "version": str(task.get("version", "")),
    }


def public(pending: dict[str, Any]) -> dict[str, Any]:
    """A proposal as a `ProposalEvent` carries it."""
    return {"task_id": pending["task_id"], "title": pending["title"], "version": pending["version"]}


def quoted(title: str) -> str:
    """A title in quotes with its quotes and line breaks escaped, so that a title cannot end
    the quotation and pose as the server's words."""
    return json.dumps(title, ensure_ascii=False)


def describe(tasks: Sequence[dict[str, Any]]) -> str:
    """`#id "title"` of each task (a proposal, or a task as the tools return it)."""
    return ", ".join(f"#{t.get('task_id', t.get('id'))} {quoted(str(t['title']))}" for t in tasks)


def confirmation_request(pending: Sequence[dict[str, Any]]) -> str:
    """The words that end a reply holding a proposal: they come from the server, not the model."""
    count = f"{len(pending)} task" + ("s" if len(pending) != 1 else "")
    return (
        f'Waiting for your confirmation: reply "yes" to delete {count}: {describe(pending)}. '
        "Any other reply cancels this."
    )


NOTHING_PENDING = "There was nothing waiting for your confirmation, so nothing was deleted."
CANCELLED = "Cancelled: nothing was deleted."


def outcome_words(
    deleted: Sequence[dict[str, Any]], changed: Sequence[dict[str, Any]], failed: Sequence[str]
) -> str:
    """The reply to a confirmation: what was deleted, and what was not and why."""
    words = f"Deleted {describe(deleted)}." if deleted else "Nothing was deleted."
    if changed:
        which = describe(changed)
        words += (
            f" Not deleted because it changed after you were asked: {which}."
            if len(changed) == 1
            else f" Not deleted because they changed after you were asked: {which}."
        )
    if failed:
        words += " " + " ".join(failed)
    return words
