"""/openapi.json: a valid OpenAPI 3.1 document of every REST route, which the app lives up to."""

from __future__ import annotations

import copy
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from importlib.metadata import version
from pathlib import Path
from typing import Any

import hypothesis
import jwt
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.python.asgi import shutdown_lifespans
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from http_adapter.app import build_app
from http_adapter.mcp_http import METADATA_PATH
from http_adapter.openapi import build_openapi
from tests.support.api import SECRET, Api, make_settings

# The document and the REST layer's conformance to it are decided before storage (whose
# behaviour the storage tests check on each backend): one backend suffices.
pytestmark = pytest.mark.sqlite_only

USER = "alice"
# Served by the app but deliberately not in the document: the MCP endpoint and its OAuth
# metadata, and the documentation page itself.
NOT_REST = {"/mcp", METADATA_PATH, "/docs"}
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def _rest_routes(api: Api) -> set[tuple[str, str]]:
    routes = set()
    for route in api.app.routes:
        if not isinstance(route, Route) or route.path in NOT_REST or route.methods is None:
            continue
        path = _CONVERTOR.sub(r"{\1}", route.path)
        routes |= {(path, method.lower()) for method in route.methods if method != "HEAD"}
    return routes


async def test_openapi_document_is_valid_openapi_3_1(api: Api) -> None:
    response = await api.client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    validate(document)


async def test_openapi_document_lists_every_rest_route_and_not_mcp(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()

    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    }
    assert documented == _rest_routes(api)
    assert not NOT_REST & set(document["paths"])


async def test_openapi_document_needs_no_token(api: Api) -> None:
    response = await api.client.get("/openapi.json")

    assert response.status_code == 200
    assert response.json()["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# Titles and tags are trimmed before their length is checked; the document has to say so, or
# a client (or schemathesis) believes 200 characters plus padding are refused and spaces alone
# accepted. Each case: (text, whether the app accepts it).
TRIMMED_TEXTS = {
    "200 characters padded": (" \t" + "x" * 200 + "\n ", True),
    "201 characters": ("x" * 201, False),
    "201 characters padded": ("  " + "x" * 201 + "  ", False),
    "spaces only": ("   ", False),
    "empty": ("", False),
    "one character between ideographic spaces": ("\u3000a\u3000", True),
    "next line and no-break space only": ("\u0085\u00a0", False),
    "information separators, which are not trimmed": ("\x1c\x1d", True),
    "inner spaces count": ("a" + " " * 198 + "b", True),
    "a NUL inside": ("a\x00b", False),
    "a NUL padded": (" \x00 ", False),
}


def _satisfies(string_schema: dict[str, Any], text: str) -> bool:
    """Whether `text` meets a JSON Schema string's length and pattern keywords."""
    return (
        string_schema.get("minLength", 0) <= len(text) <= string_schema.get("maxLength", len(text))
        and re.search(string_schema.get("pattern", ""), text) is not None
    )


TRIMMED_TAGS = {
    "32 characters padded": (" " + "t" * 32 + " ", True),
    "33 characters": ("t" * 33, False),
    "em space only": ("\u2003", False),
    "a NUL at the end": ("tag\x00", False),
}


async def test_documented_title_and_tag_rules_match_what_is_accepted(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    properties = document["components"]["schemas"]["TaskCreate"]["properties"]
    rules = {"title": properties["title"], "tag": properties["tags"]["items"]}
    bodies: dict[str, Callable[[str], dict[str, Any]]] = {
        "title": lambda text: {"title": text},
        "tag": lambda text: {"title": "t", "tags": [text]},
    }
    cases = {("title", case): v for case, v in TRIMMED_TEXTS.items()} | {
        ("tag", case): v for case, v in TRIMMED_TAGS.items()
    }

    answers = {}
    for (field, case), (text, _) in cases.items():
        response = await api.client.post(
            "/api/alice/tasks", json=bodies[field](text), headers=api.auth("alice")
        )
        assert response.status_code in (201, 422), response.text
        documented = _satisfies(rules[field], text)
        answers[field, case] = {"app": response.status_code == 201, "document": documented}

    assert answers == {
        key: {"app": accepted, "document": accepted} for key, (_, accepted) in cases.items()
    }


def _string_schemas(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The string schemas of every text the app takes, by a name for the test."""
    schemas = document["components"]["schemas"]
    task = document["paths"]["/api/{user_id}/tasks"]
    query = {p["name"]: p["schema"] for p in task["get"]["parameters"]}
    header = {p["name"]: p["schema"] for p in task["post"]["parameters"]}

    def text(schema: dict[str, Any]) -> dict[str, Any]:
        if "anyOf" in schema:
            return next(s for s in schema["anyOf"] if s.get("type") == "string")
        return schema

    return {
        "description": text(schemas["TaskCreate"]["properties"]["description"]),
        "patched title": text(schemas["TaskUpdate"]["properties"]["title"]),
        "message": text(schemas["ChatRequest"]["properties"]["message"]),
        "conversation_id": text(schemas["ChatRequest"]["properties"]["conversation_id"]),
        "q": text(query["q"]),
        "tag filter": text(query["tag"]),
        "Idempotency-Key": header["Idempotency-Key"],
    }


async def test_every_text_that_refuses_nul_is_documented_so(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()

    for name, schema in _string_schemas(document).items():
        assert not _satisfies(schema, "a\x00b"), name
        assert not _satisfies(schema, "\x00"), name
        assert _satisfies(schema, "a b"), name


async def test_list_offset_is_bounded_as_documented(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    parameters = document["paths"]["/api/{user_id}/tasks"]["get"]["parameters"]
    maximum = next(p for p in parameters if p["name"] == "offset")["schema"]["maximum"]

    at_most = await api.client.get(f"/api/alice/tasks?offset={maximum}", headers=api.auth("alice"))
    beyond = await api.client.get(
        f"/api/alice/tasks?offset={maximum + 1}", headers=api.auth("alice")
    )
    # Past what the databases' integers hold: was an unhandled overflow (500) on SQLite.
    huge = await api.client.get(f"/api/alice/tasks?offset={2**64}", headers=api.auth("alice"))

    assert at_most.status_code == 200, at_most.text
    assert at_most.json() == []
    assert beyond.status_code == 422, beyond.text
    assert huge.status_code == 422, huge.text


# --- schemathesis ------------------------------------------------------------------------------
#
# Runs on SQLite only: what is checked is that the REST layer matches its document, which it
# decides the same way on both backends (the storage tests cover each backend), and a run takes
# tens of seconds. Schemathesis drives the app from its own event-loop thread and runs the app's
# lifespan there, so this test builds its own app rather than using `api`.
#
# The schema is loaded eagerly from the document the app serves (`build_openapi`, checked against
# /openapi.json below): `schemathesis.pytest.from_fixture` relies on `Node._nodeid`, which pytest
# 9.2 no longer has.

# A real token of USER's, long-lived enough for any run.
TOKEN = jwt.encode({"sub": USER, "exp": int(time.time()) + 86400}, SECRET, algorithm="HS256")
CONFIG = schemathesis.Config.from_dict(
    {
        "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}},
        "parameters": {"path.user_id": USER},
        "generation": {
            "max-examples": 30,
            "deterministic": True,
            "database": "none",
            # Text fields refuse U+0000 (PostgreSQL cannot store it), and the document says so.
            "allow-x00": True,
            # Unknown query parameters are ignored, as by most HTTP APIs; not an error to find.
            "allow-extra-parameters": False,
        },
        "checks": {
            # A schema-valid If-Match that names another version is answered 412 by contract.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
            }
        },
        "operations": [
            {
                # No GEMINI_API_KEY here: chat answers its documented 503 (the chat tests run
                # it against a fake model).
                "include-operation-id": "chat",
                "checks": {
                    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}
                },
            },
            # A valid number past the log's head is a 422, one older than it keeps a 410.
            {
                "include-operation-id": "listChanges",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "410", "422", "429"]
                    }
                },
            },
            # A stream that never ends by itself: covered by tests/http_adapter/test_events.py.
            {"include-operation-id": "streamChanges", "enabled": False},
            {
                # Bodies defined by the protocols' packages, described loosely here: a
                # schema-valid body is not always a request of the protocol.
                "include-operation-id": "chatkit",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                "include-operation-id": "chatAiSdk",
                "checks": {
                    "positive_data_acceptance": {"enabled": False},
                    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
                },
            },
        ],
    }
)


class _AppUnderTest:
    """Forwards to the app the `asgi_app` fixture builds: the schema needs its app when this
    module is imported, and the app needs a database that exists only once the fixture runs."""

    app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the asgi_app fixture is not active"
        await self.app(scope, receive, send)


APP_UNDER_TEST = _AppUnderTest()
DOCUMENT = build_openapi(version("todo-mcp"))
# A copy: schemathesis annotates the dict it is given (with the links it infers, for one).
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)
schema.app = APP_UNDER_TEST  # requests, and the checks' own probes, go to the app in-process


async def test_document_under_test_is_the_one_served(api: Api) -> None:
    assert (await api.client.get("/openapi.json")).json() == DOCUMENT


@pytest.fixture(scope="module")
def asgi_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Path]:
    """One app for the whole run, shared by every generated example; yields its database."""
    tmp_path = tmp_path_factory.mktemp("schemathesis")
    path = tmp_path / "todo.db"
    shutil.copyfile(sqlite_template, path)
    APP_UNDER_TEST.app = build_app(make_settings(f"sqlite+aiosqlite:///{path}", tmp_path))
    try:
        yield path
    finally:
        shutdown_lifespans()  # the app's lifespan, started by schemathesis on first use
        APP_UNDER_TEST.app = None


def _empty_the_store(database: Path) -> None:
    """Every table emptied and ids starting at 1 again (the schema's version stays): each
    example meets the same store, whatever the ones before it created, so no count (a quota,
    an id, a rate) drifts from one example or run to the next."""
    with closing(sqlite3.connect(database)) as connection, connection:
        tables = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name != "alembic_version"
        ]
        # Tasks first: deleting them logs changes (the log's trigger), removed after.
        for table in sorted(tables, key=lambda name: name.startswith("change")):
            connection.execute(f'DELETE FROM "{table}"')
        # The change log's counter is one row that must stay.
        connection.execute("INSERT INTO change_head (id, seq) VALUES (1, 0)")


@schema.parametrize()
def test_app_conforms_to_its_openapi_document(case: schemathesis.Case[Any], asgi_app: Path) -> None:
    _empty_the_store(asgi_app)
    _fresh_idempotency_key(case)
    _ordered_due_range(case)
    _existing_list_and_a_rule(case)
    case.call_and_validate()


def _fresh_idempotency_key(case: schemathesis.Case[Any]) -> None:
    """A key names one create: the same key with another body is a 422 by contract (covered
    in test_task_routes), which would read here as a valid request rejected."""
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if key is not None and case.meta is not None and case.meta.generation.mode.is_positive:
        case.headers["Idempotency-Key"] = (uuid.uuid4().hex + key)[: max(len(key), 32)]


def _ordered_due_range(case: schemathesis.Case[Any]) -> None:
    """`due_after` later than `due_before` is a 422 by contract (covered in test_task_routes),
    a rule between two parameters that a JSON schema cannot state: valid data keeps them in
    order."""
    query = case.query or {}
    after, before = query.get("due_after"), query.get("due_before")
    if (
        isinstance(after, str)
        and isinstance(before, str)
        and after > before
        and case.meta is not None
        and case.meta.generation.mode.is_positive
    ):
        query["due_after"], query["due_before"] = before, after


def _existing_list_and_a_rule(case: schemathesis.Case[Any]) -> None:
    """A task's `list_id` must name one of the user's lists, and `recurrence` be a rule of the
    supported subset with a `due_date` beside it: 422s by contract (covered in
    test_list_routes) that a JSON schema cannot state. Valid data puts the task in no list
    (the store holds none) and gives a recurring task a rule and a date."""
    body = case.body
    if not (
        isinstance(body, dict)
        and case.meta is not None
        and case.meta.generation.mode.is_positive
        and case.path.startswith("/api/{user_id}/tasks")
    ):
        return
    if body.get("list_id") is not None:
        body["list_id"] = None
    if body.get("recurrence") is not None:
        body["recurrence"] = "FREQ=WEEKLY"
        body["due_date"] = body.get("due_date") or "2026-12-07"
    elif "due_date" in body and body["due_date"] is None and case.method == "PATCH":
        # Clearing the date of a task that repeats is refused; the generated task may repeat.
        body["recurrence"] = None


class _TaskLifecycle(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along the document's links: create a task, then read, replace, change
    and delete it (and find it gone), checking every answer."""

    database: Path | None = None

    def setup(self) -> None:
        # A scenario Hypothesis replays must meet the same answers (or it reports it as flaky).
        assert self.database is not None
        _empty_the_store(self.database)

    def before_call(self, case: schemathesis.Case[Any]) -> None:
        case.path_parameters["user_id"] = USER  # the `parameters` setting is not applied here
        _fresh_idempotency_key(case)
        _ordered_due_range(case)
        _existing_list_and_a_rule(case)


def test_task_lifecycle_follows_the_documented_links(asgi_app: Path) -> None:
    assert schema.statistic.transitions.total > 0
    _TaskLifecycle.database = asgi_app
    _TaskLifecycle.run(
        settings=hypothesis.settings(
            max_examples=30,
            stateful_step_count=10,
            derandomize=True,
            deadline=None,
            database=None,
        )
    )
