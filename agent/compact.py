"""What the model is shown of tool results: enough to act on (ids, titles, state), bounded.

The client still gets every tool result in full; the model gets this view, and older turns of
the history get a smaller one still, so that a long list or a long conversation costs a bounded
number of tokens.
"""

from __future__ import annotations

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


def _compact(result: Any, arguments: dict[str, Any], cap: int, fields: tuple[str, ...]) -> Any:
    if not isinstance(result, dict):
        return result
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
