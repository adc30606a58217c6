"""The OpenAPI 3.1 document, built from the pydantic models that validate the requests, so the
two cannot drift apart."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from http_adapter.schemas import ListParams, TaskBody, TaskOut, TaskPatch
from http_adapter.task_routes import MAX_TASK_ID

REF = "#/components/schemas/{model}"


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error (RFC 9457). `errors` lists each invalid field on 422."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ValidationErrorItem] | None = None


class Root(BaseModel):
    message: str
    version: str


class Health(BaseModel):
    status: str = Field(examples=["ok", "unavailable"])
    database: str = Field(examples=["ok", "unreachable"])


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


def build_openapi(version: str) -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (TaskBody, "validation"),
            (TaskPatch, "validation"),
            (TaskOut, "serialization"),
            (Problem, "serialization"),
            (Root, "serialization"),
            (Health, "serialization"),
        ],
        ref_template=REF,
    )
    schemas = top["$defs"]
    task_ref = {"$ref": REF.format(model="TaskOut")}
    etag = {"ETag": _header("The task's version; send it back in If-Match or If-None-Match.")}

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
    not_found = {"404": _problem("No such task for this user.")}
    precondition = {"412": _problem("If-Match no longer matches the task; nothing changed.")}

    user_param = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
    task_param = {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TASK_ID},
    }
    if_match = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}
    query_schema = ListParams.model_json_schema(by_alias=True, ref_template=REF)
    schemas.update(query_schema.pop("$defs", {}))
    list_params = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in query_schema["properties"].items()
    ]

    def body(model: str) -> dict[str, Any]:
        return {"required": True, "content": _json({"$ref": REF.format(model=model)})}

    def task_answer(description: str) -> dict[str, Any]:
        return {"description": description, "headers": etag, "content": _json(task_ref)}

    tasks = "/api/{user_id}/tasks"
    task = tasks + "/{task_id}"
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "Service name and version",
                "security": [],
                "responses": {"200": {"description": "OK", "content": _json(_ref("Root"))}},
            }
        },
        "/health": {
            "get": {
                "summary": "Whether the service and its database answer",
                "security": [],
                "responses": {
                    "200": {"description": "Healthy", "content": _json(_ref("Health"))},
                    "503": {"description": "Database down", "content": _json(_ref("Health"))},
                },
            }
        },
        tasks: {
            "parameters": [user_param],
            "get": {
                "summary": "List tasks",
                "operationId": "listTasks",
                "parameters": list_params,
                "responses": {
                    "200": {
                        "description": "The page of tasks",
                        "headers": {
                            "X-Total-Count": _header(
                                "Tasks matching the filters, ignoring limit/offset",
                                {"type": "integer"},
                            )
                        },
                        "content": _json({"type": "array", "items": task_ref}),
                    },
                    "422": _problem("A query parameter is invalid."),
                    **auth_errors,
                },
            },
            "post": {
                "summary": "Create a task",
                "operationId": "createTask",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                ],
                "requestBody": body("TaskCreate"),
                "responses": {
                    "201": {
                        "description": "Created (or the first answer again, for a repeated "
                        "Idempotency-Key)",
                        "headers": {**etag, "Location": _header("The new task's URL")},
                        "content": _json(task_ref),
                    },
                    "409": _problem("The same Idempotency-Key is still being processed."),
                    **body_errors,
                    **auth_errors,
                },
            },
        },
        task: {
            "parameters": [user_param, task_param],
            "get": {
                "summary": "Get a task",
                "operationId": "getTask",
                "parameters": [
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": task_answer("The task"),
                    "304": {"description": "Not modified", "headers": etag},
                    **not_found,
                    **auth_errors,
                },
            },
            "put": {
                "summary": "Replace a task",
                "operationId": "replaceTask",
                "parameters": [if_match],
                "requestBody": body("TaskCreate"),
                "responses": {
                    "200": task_answer("The task as replaced"),
                    **not_found,
                    **precondition,
                    **body_errors,
                    **auth_errors,
                },
            },
            "patch": {
                "summary": "Change some fields of a task",
                "operationId": "updateTask",
                "parameters": [if_match],
                "requestBody": body("TaskUpdate"),
                "responses": {
                    "200": task_answer("The task as changed"),
                    **not_found,
                    **precondition,
                    **body_errors,
                    **auth_errors,
                },
            },
            "delete": {
                "summary": "Delete a task",
                "operationId": "deleteTask",
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
    return {
        "openapi": "3.1.0",
        "info": {"title": "todo-mcp", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


def _ref(model: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=model)}
