"""The OpenAPI 3.1 document, built from the route table (`route_table.ROUTES`) and the pydantic
models its operations name, which also validate the requests and shape the answers: the
document cannot describe a route the app does not serve, nor miss one it does."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from http_adapter.json_schema import REF, RestJsonSchema
from http_adapter.operations import Answer, Error, Header, Operation
from http_adapter.route_table import PATH_PARAMETERS, ROUTES
from http_adapter.schemas import Problem

_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_JSON = "application/json"


def build_openapi(
    version: str,
    routes: Iterable[Operation] = ROUTES,
    path_parameters: Mapping[str, Mapping[str, Any]] = PATH_PARAMETERS,
) -> dict[str, Any]:
    routes = tuple(routes)
    refs, schemas = _components(routes)
    paths: dict[str, Any] = {}
    for operation in routes:
        item = paths.setdefault(operation.path, {})
        if not item:
            names = _PATH_PARAMETER.findall(operation.path)
            if names:
                item["parameters"] = [
                    {
                        "name": name,
                        "in": "path",
                        "required": True,
                        "schema": dict(path_parameters.get(name, {"type": "string"})),
                    }
                    for name in names
                ]
        method = operation.method.lower()
        if method in item:
            raise ValueError(f"{operation.method} {operation.path} is declared twice")
        item[method] = _operation(operation, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "todo-mcp", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Better Auth JWT (`authClient.token()` in the frontend), "
                    "or `todo-api token <user>` in development.",
                }
            },
        },
        "security": [{"bearerAuth": []}],
    }


# By (model, mode): the `$ref` to its schema.
_Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


def _components(routes: tuple[Operation, ...]) -> tuple[_Refs, dict[str, Any]]:
    """The schema of every model the operations name (bodies as validated, answers as
    serialized), and the reference to each."""
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for operation in routes:
        if operation.body is not None:
            models[operation.body, "validation"] = None
        models.update(
            {(answer.model, "serialization"): None for answer in operation.answers if answer.model}
        )
        if operation.errors:
            models[Problem, "serialization"] = None
    refs, top = models_json_schema(list(models), ref_template=REF, schema_generator=RestJsonSchema)
    return refs, top.get("$defs", {})


def _operation(operation: Operation, refs: _Refs, schemas: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {"summary": operation.summary}
    if operation.public:
        described["security"] = []
    if operation.operation_id:
        described["operationId"] = operation.operation_id
    parameters = [_query_parameter(p) for p in _query(operation.query, schemas)]
    parameters += [
        {"name": h.name, "in": "header", "required": False, "schema": _type_schema(h.type_)}
        for h in operation.headers
    ]
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        body_ref = refs[operation.body, "validation"]
        described["requestBody"] = {"required": True, "content": {_JSON: {"schema": body_ref}}}
    responses: dict[str, Any] = {}
    for answer in operation.answers:
        responses[str(answer.status)] = _answer(answer, refs)
    for error in operation.errors:
        responses[str(error.status)] = _error(error, refs)
    described["responses"] = responses
    return described


def _query(
    model: type[BaseModel] | None, schemas: dict[str, Any]
) -> Iterable[tuple[str, Any, bool]]:
    if model is None:
        return ()
    query_schema = model.model_json_schema(
        by_alias=True, ref_template=REF, schema_generator=RestJsonSchema
    )
    schemas.update(query_schema.pop("$defs", {}))
    required = set(query_schema.get("required", ()))
    return [(name, schema, name in required) for name, schema in query_schema["properties"].items()]


def _query_parameter(named: tuple[str, Any, bool]) -> dict[str, Any]:
    name, schema, required = named
    parameter = {"name": name, "in": "query", "required": required, "schema": schema}
    if "description" in schema:  # a parameter's words belong beside it, not inside its schema
        parameter["description"] = schema.pop("description")
    return parameter


def _answer(answer: Answer, refs: _Refs) -> dict[str, Any]:
    described: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        described["headers"] = _headers(answer.headers)
    schema: Mapping[str, Any] | None = answer.schema
    if answer.model is not None:
        schema = refs[answer.model, "serialization"]
        if answer.many:
            schema = {"type": "array", "items": schema}
    content: dict[str, Any] = {}
    if schema is not None:
        content[_JSON] = {"schema": dict(schema)}
    if answer.event_stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    if content:
        described["content"] = content
    if answer.links:
        described["links"] = {name: dict(link) for name, link in answer.links.items()}
    return described


def _error(error: Error, refs: _Refs) -> dict[str, Any]:
    content = (
        {_JSON: {"schema": dict(error.schema)}}
        if error.schema is not None
        else {"application/problem+json": {"schema": refs[Problem, "serialization"]}}
    )
    described: dict[str, Any] = {"description": error.description, "content": content}
    if error.headers:
        described["headers"] = _headers(error.headers)
    return described


def _headers(headers: tuple[Header, ...]) -> dict[str, Any]:
    return {
        h.name: {"description": h.description, "schema": _type_schema(h.type_)} for h in headers
    }


def _type_schema(type_: Any) -> dict[str, Any]:
    return TypeAdapter(type_).json_schema(schema_generator=RestJsonSchema)
