"""Reading JSON bodies (`http_adapter.endpoints.read_body`), on every route that takes one: what
is not JSON, or JSON no parser should have to guess about, is a 400 or a 422, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import Api, ApiFactory
from tests.support.problems import assert_problem

DEEP = 10_000


@pytest.fixture
async def chat_on(api_factory: ApiFactory) -> AsyncIterator[Api]:
    """The app with chat configured (so that chat reads its body); no model is ever reached."""
    async with api_factory(GEMINI_API_KEY="k", GEMINI_BASE_URL="http://127.0.0.1:9") as api:
        yield api


async def _send_everywhere(api: Api, body: bytes) -> list[httpx.Response]:
    created = await api.client.post(
        "/api/alice/tasks", json={"title": "t"}, headers=api.auth("alice")
    )
    assert created.status_code == 201
    task = f"/api/alice/tasks/{created.json()['id']}"
    headers = {**api.auth("alice"), "Content-Type": "application/json"}
    return [
        await api.client.request(method, path, content=body, headers=headers)
        for method, path in [
            ("POST", "/api/alice/tasks"),
            ("PUT", task),
            ("PATCH", task),
            ("POST", "/api/alice/chat"),
        ]
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * DEEP + b"]" * DEEP, id="arrays"),
        pytest.param(b'{"a":' * DEEP + b"1" + b"}" * DEEP, id="objects"),
        pytest.param(
            b'{"title": "t", "tags": ' + b"[" * DEEP + b"]" * DEEP + b"}", id="in a field"
        ),
    ],
)
async def test_json_nested_10000_deep_is_a_400_on_every_body_route(
    chat_on: Api, body: bytes
) -> None:
    for response in await _send_everywhere(chat_on, body):
        problem = assert_problem(response, 400)
        assert "nested" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": NaN}',
        b'{"title": "t", "completed": Infinity}',
        b'{"title": "t", "completed": ' + b"9" * 5000 + b"}",
        b'{"title": "t"',
        b'{"title": "\xff"}',
    ],
)
async def test_text_that_is_not_json_is_a_400_on_every_body_route(
    chat_on: Api, body: bytes
) -> None:
    for response in await _send_everywhere(chat_on, body):
        assert_problem(response, 400)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"title": "a", "title": "b"}', "title"),
        (b'{"message": "hi", "title": "t", "message": "again"}', "message"),
    ],
)
async def test_a_key_given_twice_is_a_422_naming_it_on_every_body_route(
    chat_on: Api, body: bytes, key: str
) -> None:
    for response in await _send_everywhere(chat_on, body):
        problem = assert_problem(response, 422)
        assert problem["errors"] == [{"loc": ["body", key], "msg": "given more than once"}]

    listed = await chat_on.client.get("/api/alice/tasks", headers=chat_on.auth("alice"))
    assert [task["title"] for task in listed.json()] == ["t"]
