"""The OpenAPI description of the list routes, and of what lists and recurrence add to the
task routes (the `Link` to a completed recurring task's next occurrence)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from http_adapter.schemas import ListOut
from storage.models import MAX_ID, ListCreate, ListUpdate

REF = "#/components/schemas/{model}"


def add_lists(document: dict[str, Any], schema_generator: type[GenerateJsonSchema]) -> None:
    """Add the list routes and their schemas to an OpenAPI `document` built for the task
    routes (it reuses its Problem schema and security)."""
    _, top = models_json_schema(
        [(ListCreate, "validation"), (ListUpdate, "validation"), (ListOut, "serialization")],
        ref_template=REF,
        schema_generator=schema_generator,
    )
    document["components"]["schemas"].update(top["$defs"])
    paths = document["paths"]
    for method in ("put", "patch"):
        responses = paths["/api/{user_id}/tasks/{task_id}"][method]["responses"]
        responses["200"]["headers"]["Link"] = {
            "description": "When this completed a recurring task: `<URL of the next "
            'occurrence>; rel="next"`',
            "schema": {"type": "string"},
        }
        responses["409"] = _problem(
            "Completing a recurring task would create its next occurrence beyond the task "
            "quota; nothing changed."
        )
    paths.update(lists_paths())


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def lists_paths() -> dict[str, Any]:
    list_ref = {"$ref": REF.format(model="ListOut")}
    etag = {
        "ETag": {
            "description": "The list's version; send it back in If-Match or If-None-Match.",
            "schema": {"type": "string"},
        }
    }
    auth_errors = {
        "401": _problem("Missing, malformed, expired or otherwise invalid bearer token."),
        "403": _problem("The token belongs to another user than the path's {user_id}."),
        "431": _problem("The Authorization header is larger than 8 KiB."),
        "503": _problem("The database, or the sign-in service's keys, are unavailable."),
    }
    body_errors = {
        "400": _problem("The body is not valid JSON."),
        "413": _problem("The body is larger than 64 KiB."),
        "415": _problem("The body is not JSON."),
        "422": _problem("The body does not satisfy the schema."),
    }
    not_found = {"404": _problem("No such list for this user.")}
    precondition = {"412": _problem("If-Match no longer matches the list; nothing changed.")}
    user_param = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
    list_param = {
        "name": "list_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    if_match = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}

    def body(model: str) -> dict[str, Any]:
        return {"required": True, "content": _json({"$ref": REF.format(model=model)})}

    def answer(description: str) -> dict[str, Any]:
        return {"description": description, "headers": etag, "content": _json(list_ref)}

    return {
        "/api/{user_id}/lists": {
            "parameters": [user_param],
            "get": {
                "summary": "The user's lists, by name",
                "operationId": "listLists",
                "responses": {
                    "200": {
                        "description": "Every list",
                        "content": _json({"type": "array", "items": list_ref}),
                    },
                    **auth_errors,
                },
            },
            "post": {
                "summary": "Create a list",
                "operationId": "createList",
                "requestBody": body("ListCreate"),
                "responses": {
                    "201": {
                        "description": "Created",
                        "headers": {
                            **etag,
                            "Location": {
                                "description": "The new list's URL",
                                "schema": {"type": "string"},
                            },
                        },
                        "content": _json(list_ref),
                    },
                    "409": _problem(
                        "A list of this name (ignoring case) exists, or the user has 200 lists."
                    ),
                    **body_errors,
                    **auth_errors,
                },
            },
        },
        "/api/{user_id}/lists/{list_id}": {
            "parameters": [user_param, list_param],
            "get": {
                "summary": "Get a list",
                "operationId": "getList",
                "parameters": [
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": answer("The list"),
                    "304": {"description": "Not modified", "headers": etag},
                    **not_found,
                    **auth_errors,
                },
            },
            "patch": {
                "summary": "Rename a list",
                "operationId": "updateList",
                "parameters": [if_match],
                "requestBody": body("ListUpdate"),
                "responses": {
                    "200": answer("The list as changed"),
                    "409": _problem("Another list of the user has this name (ignoring case)."),
                    **not_found,
                    **precondition,
                    **body_errors,
                    **auth_errors,
                },
            },
            "delete": {
                "summary": "Delete a list; its tasks move to no list (the inbox)",
                "operationId": "deleteList",
                "parameters": [if_match],
                "responses": {
                    "204": {"description": "Deleted"},
                    **not_found,
                    **precondition,
                    **auth_errors,
                },
            },
        },
    }
