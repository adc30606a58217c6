"""What the model is shown of tool results: enough to act on (ids, titles, state), bounded.

The client still gets every tool result of its turn in full; the model gets this view (bulk
results included), the conversation stores it, and older turns of the history get a smaller
one still. One turn's results are bounded too (`TurnBudget`): each result, and all of them
together, so that many calls in one answer cost a bounded number of tokens and bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LIST_CAP = 50  # tasks of one list shown to the model
OLD_LIST_CAP = 10  # tasks of one list kept in older turns of the history
DESCRIPTION_CAP = 200  # characters of a description shown to the model
_TASK_FIELDS = ("id", "title", "completed", "priority", "due_date", "tags", "description")
_OLD_TASK_FIELDS = ("id", "title", "completed")


def for_model(outcome: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool's outcome (`{"result": ...}` or `{"error": ...}`) as the model gets it."""
    if "result" not in outcome:
        return outcome
    return {"result": _compact(outcome["result"], arguments, LIST_CAP, _TASK_FIELDS)}


def shrunk(response: dict[str, Any]) -> dict[str, Any]:
    """A function response of an older turn, reduced further for the history."""
    if "result" not in response:
        return response
    return {"result": _compact(response["result"], {}, OLD_LIST_CAP, _OLD_TASK_FIELDS)}


# About 4 characters a token: one result at most ~6k tokens, one turn's results ~20k (a list
# of 50 tasks with long descriptions fits in one).
RESULT_CHARS = 24_000
TURN_RESULT_CHARS = 80_000
TOO_LARGE = (
    "The call ran, but its result is too large to show ({size} characters); ask for less "
    "(a narrower query, or fewer tasks at a time)."
)
OVER_BUDGET = (
    "The call ran, but this turn's tool results reached their size limit, so its result is "
    "not shown; answer with what you have, or ask the user to continue in a new message."
)


@dataclass
class TurnBudget:
    """The characters of tool results one turn has shown the model so far."""

    used: int = 0

    def view(self, outcome: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
        """`for_model`, within what is left of the turn's budget."""
        shown = for_model(outcome, arguments)
        size = len(json.dumps(shown))
        if size > RESULT_CHARS:  # fewer tasks, fewer fields, as older turns show them
            shown = shrunk(shown)
            size = len(json.dumps(shown))
        if size > RESULT_CHARS:
            shown = {"result": {"not_shown": TOO_LARGE.format(size=size)}}
        elif self.used + size > TURN_RESULT_CHARS:
            shown = {"result": {"not_shown": OVER_BUDGET}}
        self.used += len(json.dumps(shown))
        return shown


def _compact(result: Any, arguments: dict[str, Any], cap: int, fields: tuple[str, ...]) -> Any:
    if not isinstance(result, dict):
        return result
    outcomes = result.get("results")
    if isinstance(outcomes, list):  # add_tasks, complete_tasks
        return _bulk(result, outcomes, cap, fields)
    tasks = result.get("tasks")
    if isinstance(tasks, list):
        shown = [_task(task, fields) for task in tasks[:cap]]
        total = result.get("total", len(tasks))
        offset = arguments.get("offset", 0)
        first_unseen = (offset if isinstance(offset, int) else 0) + len(shown)
        view: dict[str, Any] = {"total": total, "tasks": shown}
        more = total - first_unseen if isinstance(total, int) else len(tasks) - len(shown)
        if more > 0:
            view["more"] = (
                f"{more} more not shown; narrow the query or list again with offset {first_unseen}"
            )
        return view
    if "id" in result and "title" in result:
        return _task(result, fields)
    return result


def _bulk(
    result: dict[str, Any], outcomes: list[Any], cap: int, fields: tuple[str, ...]
) -> dict[str, Any]:
    view = {k: v for k, v in result.items() if k != "results"}
    shown = []
    for outcome in outcomes[:cap]:
        if isinstance(outcome, dict):
            outcome = {k: v for k, v in outcome.items() if v is not None}
            if "task" in outcome:
                outcome["task"] = _task(outcome["task"], fields)
        shown.append(outcome)
    view["results"] = shown
    if len(outcomes) > cap:
        view["more"] = f"{len(outcomes) - cap} more results not shown"
    return view


def _task(task: Any, fields: tuple[str, ...]) -> Any:
    if not isinstance(task, dict):
        return task
    view: dict[str, Any] = {}
    for name in fields:
        value = task.get(name)
        if value is None or value == []:
            continue
        if name == "description" and isinstance(value, str) and len(value) > DESCRIPTION_CAP:
            value = value[: DESCRIPTION_CAP - 1] + "…"
        view[name] = value
    return view
