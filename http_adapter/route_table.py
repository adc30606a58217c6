"""The route table: every documented route of `todo-api`, declared once.

To add a route:
1. Declare an `Operation` here, or for a chat route in `chat_operations` (method, path,
   summary, body and query models, answers, errors), and add it to `ROUTES`. A new
   `{parameter}` in a path gets its schema in `PATH_PARAMETERS`.
2. Write its handler in your routes module and return it bound to the operation
   (`{MY_OPERATION: handler}`); `app.py` passes every module's bindings to `starlette_routes`.
That is all: `/openapi.json` describes it and the app serves it from this one entry. An
operation without a handler, or a handler for an operation not in `ROUTES`, stops the app from
being built. Routes that are not REST (`/mcp`, its OAuth metadata, `/docs`, `/metrics`) are
plain Starlette routes in `app.py` and stay out of the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.routing import Route

from http_adapter.change_models import ChangePageOut, ChangesQuery, EventsQuery
from http_adapter.chat_operations import CHAT as CHAT
from http_adapter.chat_operations import CHAT_AI_SDK as CHAT_AI_SDK
from http_adapter.chat_operations import CHATKIT as CHATKIT
from http_adapter.chat_operations import DELETE_CONVERSATION as DELETE_CONVERSATION
from http_adapter.chat_operations import GET_CONVERSATION as GET_CONVERSATION
from http_adapter.chat_operations import LIST_CONVERSATIONS as LIST_CONVERSATIONS
from http_adapter.endpoints import Handler, route
from http_adapter.operations import Answer, Error, Header, Operation
from http_adapter.route_parts import (
    AUTH_ERRORS,
    BODY_ERRORS,
    PRECONDITION_FAILED,
    RETRY_AFTER,
    TASK_NOT_FOUND,
)
from http_adapter.schemas import (
    Health,
    ListOut,
    ListParams,
    Liveness,
    Root,
    TaskBody,
    TaskOut,
    TaskPatch,
)
from storage.models import MAX_ID, IdempotencyKeyText, ListCreate, ListUpdate

TASKS = "/api/{user_id}/tasks"
TASK = TASKS + "/{task_id}"
LISTS = "/api/{user_id}/lists"
LIST = LISTS + "/{list_id}"

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "user_id": {"type": "string"},
    "task_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "conversation_id": {"type": "string"},
    "list_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}

# --- service ----------------------------------------------------------------------------------

ROOT = Operation(
    "GET",
    "/",
    "Service name and version",
    answers=(Answer(200, "OK", Root),),
    public=True,
)
OPENAPI = Operation(
    "GET",
    "/openapi.json",
    "This document",
    answers=(Answer(200, "OpenAPI 3.1", schema={"type": "object"}),),
    public=True,
)
HEALTH = Operation(
    "GET",
    "/health",
    "Whether the service and its database answer",
    answers=(Answer(200, "Healthy", Health), Answer(503, "Database down", Health)),
    public=True,
)
LIVEZ = Operation(
    "GET",
    "/livez",
    "Whether the process answers (liveness; never asks the database)",
    answers=(Answer(200, "Alive", Liveness),),
    public=True,
)

# --- tasks ------------------------------------------------------------------------------------

ETAG = Header("ETag", "The task's version; send it back in If-Match or If-None-Match.")
IF_MATCH = Header("If-Match")
NEXT_OCCURRENCE = Header(
    "Link", 'When this completed a recurring task: `<URL of the next occurrence>; rel="next"`'
)
SUCCESSOR_OVER_QUOTA = Error(
    409,
    "Completing a recurring task would create its next occurrence beyond the task quota; "
    "nothing changed.",
)


def _links_to_the_task() -> dict[str, dict[str, Any]]:
    """From a created task to the operations on it (for clients, and for schemathesis'
    stateful tests)."""
    parameters = {"user_id": "$request.path.user_id", "task_id": "$response.body#/id"}
    return {
        name: {"operationId": operation, "parameters": parameters}
        for name, operation in [
            ("GetTask", "getTask"),
            ("ReplaceTask", "replaceTask"),
            ("UpdateTask", "updateTask"),
            ("DeleteTask", "deleteTask"),
        ]
    }


LIST_TASKS = Operation(
    "GET",
    TASKS,
    "List tasks",
    operation_id="listTasks",
    query=ListParams,
    answers=(
        Answer(
            200,
            "The page of tasks",
            TaskOut,
            many=True,
            headers=(
                Header("X-Total-Count", "Tasks matching the filters, ignoring limit/offset", int),
                Header(
                    "X-Changes-Next",
                    "The change log's head, read before the list: sync from it with "
                    "GET /api/{user_id}/changes?since= (a change may come twice, none is missed)",
                    int,
                ),
            ),
        ),
    ),
    errors=(Error(422, "A query parameter is invalid."), *AUTH_ERRORS),
)
CREATE_TASK = Operation(
    "POST",
    TASKS,
    "Create a task",
    operation_id="createTask",
    headers=(Header("Idempotency-Key", type_=IdempotencyKeyText),),
    body=TaskBody,
    answers=(
        Answer(
            201,
            "Created (or the first answer again, for a repeated Idempotency-Key)",
            TaskOut,
            headers=(ETAG, Header("Location", "The new task's URL")),
            links=_links_to_the_task(),
        ),
    ),
    errors=(
        Error(
            409,
            "The same Idempotency-Key is still being processed, or the user's task quota is "
            "reached.",
        ),
        *BODY_ERRORS,
        *AUTH_ERRORS,
    ),
)
GET_TASK = Operation(
    "GET",
    TASK,
    "Get a task",
    operation_id="getTask",
    headers=(Header("If-None-Match"),),
    answers=(
        Answer(200, "The task", TaskOut, headers=(ETAG,)),
        Answer(304, "Not modified", headers=(ETAG,)),
    ),
    errors=(TASK_NOT_FOUND, *AUTH_ERRORS),
)
REPLACE_TASK = Operation(
    "PUT",
    TASK,
    "Replace a task",
    operation_id="replaceTask",
    headers=(IF_MATCH,),
    body=TaskBody,
    answers=(Answer(200, "The task as replaced", TaskOut, headers=(ETAG, NEXT_OCCURRENCE)),),
    errors=(TASK_NOT_FOUND, PRECONDITION_FAILED, SUCCESSOR_OVER_QUOTA, *BODY_ERRORS, *AUTH_ERRORS),
)
UPDATE_TASK = Operation(
    "PATCH",
    TASK,
    "Change some fields of a task",
    operation_id="updateTask",
    headers=(IF_MATCH,),
    body=TaskPatch,
    answers=(Answer(200, "The task as changed", TaskOut, headers=(ETAG, NEXT_OCCURRENCE)),),
    errors=(TASK_NOT_FOUND, PRECONDITION_FAILED, SUCCESSOR_OVER_QUOTA, *BODY_ERRORS, *AUTH_ERRORS),
)
DELETE_TASK = Operation(
    "DELETE",
    TASK,
    "Delete a task",
    operation_id="deleteTask",
    headers=(IF_MATCH,),
    answers=(Answer(204, "Deleted"),),
    errors=(TASK_NOT_FOUND, PRECONDITION_FAILED, *AUTH_ERRORS),
)

# --- lists ------------------------------------------------------------------------------------

LIST_ETAG = Header("ETag", "The list's version; send it back in If-Match or If-None-Match.")
LIST_NOT_FOUND = Error(404, "No such list for this user.")
LIST_PRECONDITION_FAILED = Error(412, "If-Match no longer matches the list; nothing changed.")

LIST_LISTS = Operation(
    "GET",
    LISTS,
    "The user's lists, by name",
    operation_id="listLists",
    answers=(Answer(200, "Every list", ListOut, many=True),),
    errors=AUTH_ERRORS,
)
CREATE_LIST = Operation(
    "POST",
    LISTS,
    "Create a list",
    operation_id="createList",
    body=ListCreate,
    answers=(
        Answer(
            201, "Created", ListOut, headers=(LIST_ETAG, Header("Location", "The new list's URL"))
        ),
    ),
    errors=(
        Error(
            409,
            "Another list of the user has this name (ignoring case), or the user has "
            "200 lists already.",
        ),
        *BODY_ERRORS,
        *AUTH_ERRORS,
    ),
)
GET_LIST = Operation(
    "GET",
    LIST,
    "Get a list",
    operation_id="getList",
    headers=(Header("If-None-Match"),),
    answers=(
        Answer(200, "The list", ListOut, headers=(LIST_ETAG,)),
        Answer(304, "Not modified", headers=(LIST_ETAG,)),
    ),
    errors=(LIST_NOT_FOUND, *AUTH_ERRORS),
)
UPDATE_LIST = Operation(
    "PATCH",
    LIST,
    "Rename a list",
    operation_id="updateList",
    headers=(IF_MATCH,),
    body=ListUpdate,
    answers=(Answer(200, "The list as changed", ListOut, headers=(LIST_ETAG,)),),
    errors=(
        LIST_NOT_FOUND,
        LIST_PRECONDITION_FAILED,
        Error(409, "Another list of the user has this name (ignoring case)."),
        *BODY_ERRORS,
        *AUTH_ERRORS,
    ),
)
DELETE_LIST = Operation(
    "DELETE",
    LIST,
    "Delete a list; its tasks move to no list (the inbox)",
    operation_id="deleteList",
    headers=(IF_MATCH,),
    answers=(Answer(204, "Deleted"),),
    errors=(LIST_NOT_FOUND, LIST_PRECONDITION_FAILED, *AUTH_ERRORS),
)

# --- live changes and sync -------------------------------------------------------------------

LIST_CHANGES = Operation(
    "GET",
    "/api/{user_id}/changes",
    "The user's task changes after a seq (delta sync, deletes included)",
    operation_id="listChanges",
    query=ChangesQuery,
    answers=(
        Answer(
            200,
            "Changes in seq order; keep `next` and ask again (at once while `more`)",
            ChangePageOut,
        ),
    ),
    errors=(
        Error(410, "Changes after `since` are no longer kept: list the tasks again."),
        Error(422, "`since` or `limit` is invalid, or `since` is past the head."),
        *AUTH_ERRORS,
    ),
)
STREAM_CHANGES = Operation(
    "GET",
    "/api/{user_id}/events",
    "The user's task changes as Server-Sent Events, live",
    operation_id="streamChanges",
    query=EventsQuery,
    headers=(Header("Last-Event-ID", "The id of the last event seen; wins over `since`", int),),
    answers=(
        Answer(
            200,
            "`event: change`, `id:` the seq, `data:` a ChangeOut. Replays what came after "
            "`Last-Event-ID` (or `since`) first; without either, only what comes next. A "
            "comment every 15 s; the stream ends when the token expires.",
            event_stream=True,
        ),
    ),
    errors=(
        Error(410, "Changes after the last id are no longer kept: list the tasks again."),
        Error(422, "`since` or `Last-Event-ID` is not a seq issued."),
        Error(
            429,
            "Too many open streams for this user on this server.",
            headers=(RETRY_AFTER,),
        ),
        *AUTH_ERRORS,
    ),
)

# In the order of the document. Operations on one path share one Starlette route.
ROUTES: tuple[Operation, ...] = (
    ROOT,
    OPENAPI,
    HEALTH,
    LIVEZ,
    LIST_TASKS,
    CREATE_TASK,
    GET_TASK,
    REPLACE_TASK,
    UPDATE_TASK,
    DELETE_TASK,
    LIST_LISTS,
    CREATE_LIST,
    GET_LIST,
    UPDATE_LIST,
    DELETE_LIST,
    CHAT,
    LIST_CONVERSATIONS,
    GET_CONVERSATION,
    DELETE_CONVERSATION,
    CHATKIT,
    CHAT_AI_SDK,
    LIST_CHANGES,
    STREAM_CHANGES,
)


def starlette_routes(
    handlers: Mapping[Operation, Handler], routes: tuple[Operation, ...] = ROUTES
) -> list[Route]:
    """One Starlette route per path of `routes`, serving each operation with its handler (one
    route per path, so that a 405 lists every method of the path in `Allow`)."""
    unbound = [f"{op.method} {op.path}" for op in routes if op not in handlers]
    unknown = [f"{op.method} {op.path}" for op in handlers if op not in routes]
    if unbound or unknown:
        raise RuntimeError(f"operations without a handler: {unbound}; not in the table: {unknown}")
    by_path: dict[str, dict[str, Handler]] = {}
    for operation in routes:
        by_path.setdefault(operation.path, {})[operation.method] = handlers[operation]
    return [route(path, methods) for path, methods in by_path.items()]
