"""The task routes: each parses its request, makes one MCP tool call as the token's user, and
shapes the tool's structured result into the REST answer."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from http_adapter import route_table
from http_adapter.change_routes import changes_head
from http_adapter.context import AppContext
from http_adapter.endpoints import Handler, TaskJSONResponse, read_body
from http_adapter.operations import Operation
from http_adapter.problems import HTTPProblem
from http_adapter.schemas import ListParams, TaskBody, TaskPatch, error_list
from storage.models import MAX_ID, IdempotencyKeyText

# ASCII digits only, and no more than a version can have: `\d` would take other scripts' digits
# and int() of thousands of digits raises.
_STRONG_ETAG = re.compile(r'"([0-9]{1,10})"')
_DIGITS = re.compile(r"[0-9]+")
_IDEMPOTENCY_KEY: TypeAdapter[str] = TypeAdapter(IdempotencyKeyText)


def task_handlers(ctx: AppContext) -> dict[Operation, Handler]:
    """The handler of each task operation of the route table."""

    async def list_tasks(request: Request) -> Response:
        user = await ctx.authorize(request)
        try:
            params = ListParams.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise HTTPProblem(
                422, "Invalid query parameters.", errors=error_list(exc.errors(), "query")
            ) from None
        # Read before the list: syncing from it may repeat a change, never miss one.
        changes_next = await changes_head(ctx)
        page = await ctx.call_tool(user, "list_tasks", params.model_dump(mode="json"))
        return TaskJSONResponse(
            [_public(task) for task in page["tasks"]],
            headers={"X-Total-Count": str(page["total"]), **changes_next},
        )

    async def create_task(request: Request) -> Response:
        user = await ctx.authorize(request)
        body = await read_body(request, TaskBody)
        arguments = body.model_dump(mode="json")
        key = _idempotency_key(request)
        # Whatever can refuse the request is settled before the task is written: after that,
        # only the id is added to what is already built.
        tasks_url = f"{ctx.base_url(request)}/api/{url_segment(user)}/tasks"
        if key is not None:
            # Storage claims the key before the create: a second request with it, in any
            # process, gets 409 while the first runs and the first's answer after.
            arguments["idempotency_key"] = key
        task = await ctx.call_tool(user, "add_task", arguments)
        location = f"{tasks_url}/{task['id']}"
        return _task_response(task, status=201, headers={"Location": location})

    async def get_task(request: Request) -> Response:
        user = await ctx.authorize(request)
        task_id = _task_id(request)
        task = await ctx.call_tool(user, "get_task", {"task_id": task_id})
        if _none_match(request.headers.get("if-none-match"), _etag(task)):
            return Response(status_code=304, headers={"ETag": _etag(task)})
        return _task_response(task)

    def updater(body_model: type[BaseModel]) -> Handler:
        """PUT (a full TaskBody, omitted fields at their defaults) and PATCH (the fields
        given) are both one `update_task` call."""

        async def update(request: Request) -> Response:
            user = await ctx.authorize(request)
            task_id = _task_id(request)
            body = await read_body(request, body_model)
            arguments = {"task_id": task_id, **body.model_dump(mode="json")}
            return await _conditional_write(request, user, "update_task", arguments)

        return update

    replace_task = updater(TaskBody)
    patch_task = updater(TaskPatch)

    async def delete_task(request: Request) -> Response:
        user = await ctx.authorize(request)
        arguments: dict[str, Any] = {"task_id": _task_id(request)}
        await _conditional_write(request, user, "delete_task", arguments)
        return Response(status_code=204)

    async def _conditional_write(
        request: Request, user: str, tool: str, arguments: dict[str, Any]
    ) -> Response:
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match.strip() != "*":
            versions = _listed_versions(if_match)
            if len(versions) != 1:
                # None listed can match, or several might: look at the task (a 404 if it is
                # not there). The write below names the version it is at, so it still fails
                # if the task changes in between.
                task = await ctx.call_tool(user, "get_task", {"task_id": arguments["task_id"]})
                if task["version"] not in versions:
                    raise HTTPProblem(412, "The If-Match header does not match the task.")
                versions = {task["version"]}
            arguments["expected_version"] = versions.pop()
        task = await ctx.call_tool(user, tool, arguments)
        headers = {}
        if task.get("next_task_id") is not None:
            # Completing a recurring task created its next occurrence (RFC 8288 link).
            tasks_url = f"{ctx.base_url(request)}/api/{url_segment(user)}/tasks"
            headers["Link"] = f'<{tasks_url}/{task["next_task_id"]}>; rel="next"'
        return _task_response(task, headers=headers)

    return {
        route_table.LIST_TASKS: list_tasks,
        route_table.CREATE_TASK: create_task,
        route_table.GET_TASK: get_task,
        route_table.REPLACE_TASK: replace_task,
        route_table.UPDATE_TASK: patch_task,
        route_table.DELETE_TASK: delete_task,
    }


def url_segment(identifier: str) -> str:
    """An identifier as one percent-encoded path segment (RFC 3986). A user id is the token's
    `sub`, any text: encoded, a header stays ASCII (a raw `ユ` cannot be sent at all) and
    `a?b#c` stays one segment."""
    return quote(identifier, safe="")


def _task_id(request: Request) -> int:
    raw: str = request.path_params["task_id"]
    # Ten digits hold every id (leading zeros aside); a longer number names no task and is
    # never converted (int() of thousands of digits raises).
    significant = raw.lstrip("0")
    if not _DIGITS.fullmatch(raw) or len(significant) > 10:
        raise HTTPProblem(404, "No task has this id.")
    task_id = int(significant or "0")
    if not 1 <= task_id <= MAX_ID:
        raise HTTPProblem(404, f"Task {task_id} not found.")
    return task_id


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    try:
        return _IDEMPOTENCY_KEY.validate_python(key)
    except ValidationError as exc:
        raise HTTPProblem(
            422,
            "The Idempotency-Key header is not valid.",
            errors=error_list(exc.errors(), "header", "Idempotency-Key"),
        ) from None


# Result fields that REST carries in headers instead: ETag, Link.
_IN_HEADERS = ("version", "next_task_id")


def _public(task: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in task.items() if key not in _IN_HEADERS}


def _etag(task: dict[str, Any]) -> str:
    return f'"{task["version"]}"'


def _task_response(
    task: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return TaskJSONResponse(
        _public(task), status_code=status, headers={"ETag": _etag(task), **(headers or {})}
    )


def _listed_versions(if_match: str) -> set[int]:
    """The versions named by the strong ETags in an If-Match list. Weak tags never match
    (RFC 9110 asks for strong comparison), and neither does anything that is not an ETag or
    names a version no task can have (they start at 1 and stay in a 32-bit column)."""
    return {
        version
        for part in if_match.split(",")
        if (match := _STRONG_ETAG.fullmatch(part.strip()))
        and 1 <= (version := int(match.group(1))) <= MAX_ID
    }


def _none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match matches (weak comparison, as RFC 9110 asks for GET)."""
    if if_none_match is None:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates
