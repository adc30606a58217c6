"""The OpenAPI 3.1 document, built from the pydantic models that validate the requests, so the
two cannot drift apart."""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from http_adapter.chat_ui_openapi import chat_ui_paths
from http_adapter.schemas import ChatRequest, ListParams, TaskBody, TaskOut, TaskPatch
from storage.conversations import ConversationDetail, ConversationPublic
from storage.models import MAX_ID, IdempotencyKeyText, no_nul

REF = "#/components/schemas/{model}"
# What pydantic's `strip_whitespace` trims: Unicode White_Space. Not Python's str.isspace, nor
# the ECMAScript `\s` of JSON Schema patterns, so spelt out for every validator's regex engine.
# Any text without U+0000, written with an escape both ECMAScript and Python regexes read.
NO_NUL_PATTERN = "^[^\\u0000]*$"
_WHITESPACE = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class _RestJsonSchema(GenerateJsonSchema):
    """Describes strings as what they accept.

    A title of 200 characters plus padding is valid, one of spaces only is not, which
    `minLength`/`maxLength` on the raw text would get wrong both ways: the lengths of trimmed
    strings move into a pattern about the text between the padding. And strings that refuse
    U+0000 (`storage.models.NoNul`, a validator function the generic generator cannot see)
    say so in their pattern.
    """

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        return self._string(schema, no_nul=False)

    def function_after_schema(
        self, schema: core_schema.AfterValidatorFunctionSchema
    ) -> JsonSchemaValue:
        inner = schema["schema"]
        if schema["function"].get("function") is no_nul and inner["type"] == "str":
            return self._string(cast(core_schema.StringSchema, inner), no_nul=True)
        return super().function_after_schema(schema)

    def _string(self, schema: core_schema.StringSchema, *, no_nul: bool) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace"):
            low = json_schema.pop("minLength", 0)
            high = json_schema.pop("maxLength", None)
            assert "pattern" not in json_schema, "a pattern on a trimmed string is not supported"
            json_schema["pattern"] = _trimmed_length_pattern(low, high, no_nul=no_nul)
        elif no_nul:
            assert "pattern" not in json_schema, "a pattern on a NUL-free string is not supported"
            json_schema["pattern"] = NO_NUL_PATTERN
        return json_schema


def _trimmed_length_pattern(low: int, high: int | None, *, no_nul: bool = False) -> str:
    """A regex for strings whose text, once trimmed, is `low` to `high` characters long."""
    nul = "\\u0000" if no_nul else ""
    edge = f"[^{nul}{_WHITESPACE}]"  # the first and the last character that trimming keeps
    anything = f"[^{nul}]" if no_nul else "[\\s\\S]"
    middle = anything + "{" + f"{max(low - 2, 0)},{'' if high is None else high - 2}" + "}"
    if high == 1:
        core = edge
    elif low >= 2:
        core = f"{edge}{middle}{edge}"
    else:
        core = f"{edge}(?:{middle}{edge})?"
    if low == 0:
        core = f"(?:{core})?"
    return f"^[{_WHITESPACE}]*{core}[{_WHITESPACE}]*$"


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


class ToolCallRecord(BaseModel):
    """One tool call the agent made: its result, or `{"error": ...}` if it failed."""

    name: str
    arguments: dict[str, Any]
    result: Any


class ChatUsage(BaseModel):
    """Tokens the turn's model calls reported, summed."""

    input_tokens: int
    output_tokens: int
    model_calls: int


class ChatAnswer(BaseModel):
    conversation_id: str
    response: str
    tool_calls: list[ToolCallRecord]
    usage: ChatUsage


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
            (ChatRequest, "validation"),
            (ChatAnswer, "serialization"),
            (ConversationPublic, "serialization"),
            (ConversationDetail, "serialization"),
        ],
        ref_template=REF,
        schema_generator=_RestJsonSchema,
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
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    if_match = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}
    query_schema = ListParams.model_json_schema(
        by_alias=True, ref_template=REF, schema_generator=_RestJsonSchema
    )
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
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": _json({"type": "object"})}
                },
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
        "/livez": {
            "get": {
                "summary": "Whether the process answers (liveness; never asks the database)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Alive",
                        "content": _json(
                            {
                                "type": "object",
                                "properties": {"status": {"type": "string", "enum": ["ok"]}},
                                "required": ["status"],
                            }
                        ),
                    }
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
                        "schema": TypeAdapter(IdempotencyKeyText).json_schema(
                            schema_generator=_RestJsonSchema
                        ),
                    }
                ],
                "requestBody": body("TaskCreate"),
                "responses": {
                    "201": {
                        "description": "Created (or the first answer again, for a repeated "
                        "Idempotency-Key)",
                        "headers": {**etag, "Location": _header("The new task's URL")},
                        "content": _json(task_ref),
                        "links": _links_to_the_task(),
                    },
                    "409": _problem(
                        "The same Idempotency-Key is still being processed, or the user's "
                        "task quota is reached."
                    ),
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
    paths.update(_chat_paths(user_param, auth_errors, body_errors))
    paths.update(chat_ui_paths(user_param, auth_errors))
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


def _links_to_the_task() -> dict[str, Any]:
    """OpenAPI links from a created task to the operations on it (for clients and for
    schemathesis' stateful tests)."""
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


def _ref(model: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=model)}


def _chat_paths(
    user_param: dict[str, Any], auth_errors: dict[str, Any], body_errors: dict[str, Any]
) -> dict[str, Any]:
    conversation_param = {
        "name": "conversation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    not_found = {"404": _problem("No such conversation for this user.")}
    return {
        "/api/{user_id}/chat": {
            "parameters": [user_param],
            "post": {
                "summary": "Send the chat agent a message; it may call the task tools",
                "operationId": "chat",
                "requestBody": {"required": True, "content": _json(_ref("ChatRequest"))},
                "responses": {
                    "200": {
                        "description": "The agent's answer; with `Accept: text/event-stream`, "
                        "Server-Sent Events `tool_call`, `tool_result`, `delta`, then `done` "
                        "(this same object) or `error` (a problem)",
                        "content": {
                            **_json(_ref("ChatAnswer")),
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    **not_found,
                    **body_errors,
                    "429": {
                        **_problem("Too many chat messages; retry after Retry-After seconds."),
                        "headers": {"Retry-After": _header("Seconds", {"type": "integer"})},
                    },
                    "502": _problem("The model failed or gave no usable answer."),
                    "504": _problem("The model did not answer in time."),
                    **auth_errors,
                    "503": {
                        **_problem(
                            "Chat is not configured (no GEMINI_API_KEY), the model is "
                            "overloaded (with Retry-After), or the database is unavailable."
                        ),
                        "headers": {"Retry-After": _header("Seconds", {"type": "integer"})},
                    },
                },
            },
        },
        "/api/{user_id}/conversations": {
            "parameters": [user_param],
            "get": {
                "summary": "List chat conversations, newest first",
                "operationId": "listConversations",
                "responses": {
                    "200": {
                        "description": "The conversations",
                        "content": _json({"type": "array", "items": _ref("ConversationPublic")}),
                    },
                    **auth_errors,
                },
            },
        },
        "/api/{user_id}/conversations/{conversation_id}": {
            "parameters": [user_param, conversation_param],
            "get": {
                "summary": "A conversation with its messages",
                "operationId": "getConversation",
                "responses": {
                    "200": {
                        "description": "The conversation",
                        "content": _json(_ref("ConversationDetail")),
                    },
                    **not_found,
                    **auth_errors,
                },
            },
            "delete": {
                "summary": "Delete a conversation and its messages",
                "operationId": "deleteConversation",
                "responses": {"204": {"description": "Deleted"}, **not_found, **auth_errors},
            },
        },
    }
