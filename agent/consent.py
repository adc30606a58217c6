"""Consent for destructive tool calls, decided by the server, not by the model.

A destructive call (a tool annotated `destructiveHint`, i.e. `delete_task`) runs at once only
when it is the only one of its turn and the user's own message asks for a deletion. Any other
is not run: it becomes a proposal stored with the assistant's reply (in the database, with the
conversation), and the reply ends with the list of what would be deleted. The user's next
message carries the proposal out only if, on its own, it is an explicit confirmation ("yes",
"confirm", "delete them", ...); anything else drops it. Task text the model reads can neither
make a delete count as asked for nor confirm one: both are read from the user's messages only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from storage.conversations import MessageRecord

MAX_PENDING = 50  # destructive calls one proposal may hold

_ASKS_TO_DELETE = re.compile(
    r"\b(delete|deleting|remove|removing|erase|trash|discard|wipe|purge|get rid of)\b", re.I
)
_CONFIRMATIONS = frozenset(
    {
        "yes",
        "yep",
        "yeah",
        "yes please",
        "confirm",
        "confirmed",
        "i confirm",
        "yes confirm",
        "yes i confirm",
        "go ahead",
        "yes go ahead",
        "do it",
        "yes do it",
        "delete it",
        "delete them",
        "yes delete it",
        "yes delete them",
        "yes please delete them",
        "yes please delete it",
    }
)


def asks_to_delete(message: str) -> bool:
    return _ASKS_TO_DELETE.search(message) is not None


def confirms(message: str) -> bool:
    """Whether the user's whole message is an explicit yes."""
    words = re.sub(r"[^\w\s]", " ", message.lower()).split()
    return " ".join(words) in _CONFIRMATIONS


def pending_before(messages: Sequence[MessageRecord]) -> list[dict[str, Any]]:
    """The proposal of the assistant message just before the user's new (last) message."""
    if len(messages) < 2 or messages[-2].role != "assistant" or messages[-2].turn is None:
        return []
    pending: list[dict[str, Any]] = messages[-2].turn.get("pending", [])
    return pending


def describe(pending: Sequence[dict[str, Any]]) -> str:
    return ", ".join(_one(p) for p in pending)


def confirmation_request(pending: Sequence[dict[str, Any]]) -> str:
    """The words that end a reply holding a proposal: they come from the server, not the model."""
    count = f"{len(pending)} task" + ("s" if len(pending) != 1 else "")
    return (
        f'Waiting for your confirmation: reply "yes" to delete {count}: {describe(pending)}. '
        "Any other reply cancels this."
    )


def _one(pending: dict[str, Any]) -> str:
    task_id = pending["arguments"].get("task_id")
    title = pending.get("title")
    return f'#{task_id} "{title}"' if title else f"#{task_id}"
