"""The OpenAPI description of delta sync and live events (`change_routes`)."""

from __future__ import annotations

from typing import Any

from http_adapter.change_routes import DEFAULT_LIMIT, MAX_LIMIT

REF = "#/components/schemas/{model}"

CHANGES_NEXT_HEADER = {
    "X-Changes-Next": {
        "description": "The change log's head, read before the list: sync from it with "
        "GET /api/{user_id}/changes?since= (a change may come twice, none is missed)",
        "schema": {"type": "integer", "minimum": 0},
    }
}

_SEQ = {"type": "integer", "minimum": 0}
CHANGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A task write. `task` is the task as REST serves it, null when deleted; "
    "`version` is the value behind its ETag (for a delete, the last one).",
    "properties": {
        "seq": {**_SEQ, "description": "The server's change number; only grows"},
        "op": {"type": "string", "enum": ["created", "updated", "deleted"]},
        "task_id": {"type": "integer"},
        "version": {"type": "integer"},
        "task": {"anyOf": [{"$ref": REF.format(model="TaskOut")}, {"type": "null"}]},
        "at": {"type": "string", "format": "date-time"},
    },
    "required": ["seq", "op", "task_id", "version", "task", "at"],
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def change_schemas() -> dict[str, Any]:
    return {"Change": CHANGE_SCHEMA}


def change_paths(user_param: dict[str, Any], auth_errors: dict[str, Any]) -> dict[str, Any]:
    since = {
        "name": "since",
        "in": "query",
        "description": "The `next` of the last answer, or a list's X-Changes-Next; 0 for all kept",
        "schema": _SEQ,
    }
    change_ref = {"$ref": REF.format(model="Change")}
    return {
        "/api/{user_id}/changes": {
            "parameters": [user_param],
            "get": {
                "summary": "The user's task changes after a seq (delta sync, deletes included)",
                "operationId": "listChanges",
                "parameters": [
                    {**since, "required": True},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": DEFAULT_LIMIT,
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Changes in seq order; keep `next` and ask again "
                        "(at once while `more`)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "changes": {"type": "array", "items": change_ref},
                                        "next": _SEQ,
                                        "more": {"type": "boolean"},
                                    },
                                    "required": ["changes", "next", "more"],
                                }
                            }
                        },
                    },
                    "410": _problem(
                        "Changes after `since` are no longer kept: list the tasks again."
                    ),
                    "422": _problem("`since` or `limit` is invalid, or `since` is past the head."),
                    **auth_errors,
                },
            },
        },
        "/api/{user_id}/events": {
            "parameters": [user_param],
            "get": {
                "summary": "The user's task changes as Server-Sent Events, live",
                "description": "`event: change`, `id:` the seq, `data:` a Change. Replays what "
                "came after `Last-Event-ID` (or `since`) first; without either, only what "
                "comes next. A comment every 15 s; the stream ends when the token expires.",
                "operationId": "streamChanges",
                "parameters": [
                    since,
                    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": _SEQ},
                ],
                "responses": {
                    "200": {
                        "description": "The event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "410": _problem("Changes after the last id are no longer kept: list again."),
                    "422": _problem("`since` or `Last-Event-ID` is not a seq issued."),
                    "429": {
                        **_problem("Too many open streams for this user on this server."),
                        "headers": {
                            "Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}
                        },
                    },
                    **auth_errors,
                },
            },
        },
    }
