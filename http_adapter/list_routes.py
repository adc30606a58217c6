"""The list routes: each parses its request, makes one MCP tool call as the token's user, and
shapes the tool's structured result into the REST answer, as the task routes do."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from http_adapter import route_table
from http_adapter.context import AppContext
from http_adapter.endpoints import Handler, TaskJSONResponse, read_body
from http_adapter.operations import Operation
from http_adapter.problems import HTTPProblem
from http_adapter.task_routes import _listed_versions, _none_match, url_segment
from storage.models import MAX_ID, ListCreate, ListUpdate

_DIGITS = re.compile(r"[0-9]+")


def list_handlers(ctx: AppContext) -> dict[Operation, Handler]:
    """The handler of each list operation of the route table."""

    async def all_lists(request: Request) -> Response:
        user = await ctx.authorize(request)
        page = await ctx.call_tool(user, "list_lists", {})
        return TaskJSONResponse([_public(item) for item in page["lists"]])

    async def create_list(request: Request) -> Response:
        user = await ctx.authorize(request)
        body = await read_body(request, ListCreate)
        lists_url = f"{ctx.base_url(request)}/api/{url_segment(user)}/lists"
        made = await ctx.call_tool(user, "add_list", body.model_dump(mode="json"))
        return _list_response(made, status=201, headers={"Location": f"{lists_url}/{made['id']}"})

    async def get_list(request: Request) -> Response:
        user = await ctx.authorize(request)
        found = await _find(user, _list_id(request))
        if _none_match(request.headers.get("if-none-match"), _etag(found)):
            return Response(status_code=304, headers={"ETag": _etag(found)})
        return _list_response(found)

    async def patch_list(request: Request) -> Response:
        user = await ctx.authorize(request)
        list_id = _list_id(request)
        body = await read_body(request, ListUpdate)
        versions = _if_match(request)
        if "name" not in body.model_fields_set:
            # Nothing to change: the list as it is, if it is there and still matches.
            found = await _find(user, list_id)
            if versions is not None and found["version"] not in versions:
                raise HTTPProblem(412, "The If-Match header does not match the list.")
            return _list_response(found)
        arguments: dict[str, Any] = {"list_id": list_id, "name": body.name}
        await _expect(user, arguments, versions)
        return _list_response(await ctx.call_tool(user, "update_list", arguments))

    async def delete_list(request: Request) -> Response:
        user = await ctx.authorize(request)
        arguments: dict[str, Any] = {"list_id": _list_id(request)}
        await _expect(user, arguments, _if_match(request))
        await ctx.call_tool(user, "delete_list", arguments)
        return Response(status_code=204)

    async def _find(user: str, list_id: int) -> dict[str, Any]:
        page = await ctx.call_tool(user, "list_lists", {})
        for item in page["lists"]:
            if item["id"] == list_id:
                found: dict[str, Any] = item
                return found
        raise HTTPProblem(404, f"List {list_id} not found.")

    async def _expect(user: str, arguments: dict[str, Any], versions: set[int] | None) -> None:
        """If-Match as the tool's expected_version (as for tasks)."""
        if versions is None:
            return
        if len(versions) != 1:
            found = await _find(user, arguments["list_id"])
            if found["version"] not in versions:
                raise HTTPProblem(412, "The If-Match header does not match the list.")
            versions = {found["version"]}
        arguments["expected_version"] = versions.pop()

    return {
        route_table.LIST_LISTS: all_lists,
        route_table.CREATE_LIST: create_list,
        route_table.GET_LIST: get_list,
        route_table.UPDATE_LIST: patch_list,
        route_table.DELETE_LIST: delete_list,
    }


def _list_id(request: Request) -> int:
    raw: str = request.path_params["list_id"]
    significant = raw.lstrip("0")
    if not _DIGITS.fullmatch(raw) or len(significant) > 10:
        raise HTTPProblem(404, "No list has this id.")
    list_id = int(significant or "0")
    if not 1 <= list_id <= MAX_ID:
        raise HTTPProblem(404, f"List {list_id} not found.")
    return list_id


def _if_match(request: Request) -> set[int] | None:
    """The versions an If-Match names; None without one (or with `*`)."""
    if_match = request.headers.get("if-match")
    if if_match is None or if_match.strip() == "*":
        return None
    return _listed_versions(if_match)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key != "version"}


def _etag(item: dict[str, Any]) -> str:
    return f'"{item["version"]}"'


def _list_response(
    item: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return TaskJSONResponse(
        _public(item), status_code=status, headers={"ETag": _etag(item), **(headers or {})}
    )
