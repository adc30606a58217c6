"""The route table: one entry serves a route and documents it, and no REST route escapes it."""

from __future__ import annotations

import re

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from http_adapter import route_parts, route_table
from http_adapter.endpoints import Handler, read_body
from http_adapter.openapi import build_openapi
from http_adapter.operations import Answer, Error, Operation
from tests.support.api import Api

pytestmark = pytest.mark.sqlite_only

_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


class WidgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=20)


class Widget(BaseModel):
    id: int
    name: str


WIDGETS = Operation(
    "POST",
    "/api/{user_id}/widgets/{widget_id}",
    "Make a widget",
    operation_id="makeWidget",
    body=WidgetCreate,
    answers=(Answer(201, "The widget", Widget),),
    errors=(Error(409, "The widget exists."), *route_parts.AUTH_ERRORS),
)


async def _make_widget(request: Request) -> Response:
    body = await read_body(request, WidgetCreate)
    return JSONResponse(Widget(id=1, name=body.name).model_dump(), status_code=201)


def _app(table: tuple[Operation, ...], handlers: dict[Operation, Handler]) -> Starlette:
    """An app composed as `build_app` composes its REST routes: served and documented from
    one table."""
    document = build_openapi("1", table)

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(document)

    others = {op: _make_widget for op in table if op is not route_table.OPENAPI}
    return Starlette(
        routes=route_table.starlette_routes(
            {**others, route_table.OPENAPI: openapi_json, **handlers}, table
        )
    )


async def test_an_operation_added_to_the_table_is_served_and_documented() -> None:
    table = (*route_table.ROUTES, WIDGETS)
    app = _app(table, {WIDGETS: _make_widget})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        document = (await client.get("/openapi.json")).json()
        made = await client.post("/api/alice/widgets/7", json={"name": "cog"})

    validate(document)
    assert made.status_code == 201
    assert made.json() == {"id": 1, "name": "cog"}
    item = document["paths"]["/api/{user_id}/widgets/{widget_id}"]
    assert [p["name"] for p in item["parameters"]] == ["user_id", "widget_id"]
    operation = item["post"]
    assert operation["summary"] == "Make a widget"
    assert operation["operationId"] == "makeWidget"
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WidgetCreate"
    }
    answer = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/Widget"}
    assert set(operation["responses"]) == {"201", "409", "401", "403", "431", "503"}
    assert (
        document["components"]["schemas"]["WidgetCreate"]["properties"]["name"]["maxLength"] == 20
    )
    # Everything that was there before is still there, unchanged.
    assert {k: v for k, v in document["paths"].items() if "widgets" not in k} == build_openapi("1")[
        "paths"
    ]


def test_an_operation_without_a_handler_stops_the_app_from_being_built() -> None:
    with pytest.raises(RuntimeError, match=re.escape("POST /api/{user_id}/widgets/{widget_id}")):
        route_table.starlette_routes({}, (WIDGETS,))


def test_a_handler_for_an_operation_outside_the_table_stops_the_app_from_being_built() -> None:
    with pytest.raises(RuntimeError, match="not in the table"):
        route_table.starlette_routes({WIDGETS: _make_widget}, ())


def test_an_operation_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        build_openapi("1", (WIDGETS, WIDGETS))


async def test_every_api_route_the_app_serves_is_in_the_document(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()

    served = {
        (_CONVERTOR.sub(r"{\1}", r.path), method.lower())
        for r in api.app.routes
        if isinstance(r, Route) and r.path.startswith("/api/")
        for method in r.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served
    assert served <= documented, served - documented
