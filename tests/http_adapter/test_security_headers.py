"""`X-Content-Type-Options: nosniff` on every answer, `Cache-Control: no-store` on every answer of
a route that takes a token (errors included), on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api


async def _answers(api: Api) -> dict[str, httpx.Response]:
    alice = api.auth("alice")
    client = api.client
    created = await client.post("/api/alice/tasks", json={"title": "t"}, headers=alice)
    task = f"/api/alice/tasks/{created.json()['id']}"
    return {
        "created": created,
        "listed": await client.get("/api/alice/tasks", headers=alice),
        "fetched": await client.get(task, headers=alice),
        "not modified": await client.get(
            task, headers={**alice, "If-None-Match": created.headers["etag"]}
        ),
        "no token": await client.get("/api/alice/tasks"),
        "another user": await client.get("/api/bob/tasks", headers=alice),
        "not found": await client.get("/api/alice/tasks/999", headers=alice),
        "invalid": await client.post("/api/alice/tasks", json={}, headers=alice),
        "conversations": await client.get("/api/alice/conversations", headers=alice),
        "chat off": await client.post("/api/alice/chat", json={"message": "hi"}, headers=alice),
        "mcp without a token": await client.post("/mcp", json={}),
        "slash redirect": await client.get("/api/alice/tasks/", headers=alice),
        "deleted": await client.delete(task, headers=alice),
    }


async def test_every_answer_of_a_route_with_a_token_is_nosniff_and_no_store(api: Api) -> None:
    for name, response in (await _answers(api)).items():
        assert response.headers.get("x-content-type-options") == "nosniff", name
        assert response.headers.get("cache-control") == "no-store", name


@pytest.mark.parametrize(
    "path", ["/", "/health", "/openapi.json", "/.well-known/oauth-protected-resource/mcp", "/nope"]
)
async def test_public_answers_are_nosniff(api: Api, path: str) -> None:
    response = await api.client.get(path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get("cache-control") != "no-store" or response.status_code == 404


async def test_a_preflight_is_nosniff(api: Api) -> None:
    response = await api.client.options(
        "/api/alice/tasks",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
        },
    )

    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
