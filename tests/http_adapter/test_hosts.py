"""The `Host` header is parsed strictly and never written back when it is not an allowed host:
not into `Location`, the trailing-slash redirect or the /mcp resource metadata."""

from __future__ import annotations

import pytest

from http_adapter.hosts import parse_host
from http_adapter.mcp_http import METADATA_PATH
from tests.support.api import Api, ApiFactory
from tests.support.problems import assert_problem

EVIL = "evil.example"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("localhost", ("localhost", None)),
        ("LocalHost:8000", ("localhost", 8000)),
        ("localhost.:8000", ("localhost", 8000)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:8000", ("::1", 8000)),
        ("[::1]", ("::1", None)),
        ("todo_api:8000", ("todo_api", 8000)),
        ("api.todo.example.com", ("api.todo.example.com", None)),
    ],
)
def test_valid_hosts_are_parsed(value: str, parsed: tuple[str, int | None]) -> None:
    assert parse_host(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        "",
        "localhost:evil.example",
        "localhost:8000:1",
        "localhost:",
        ":8000",
        "localhost:99999",
        "localhost:+80",
        "a b",
        "evil.example/path",
        "user@localhost",
        "[::1",
        "[::1]x",
        "[evil.example]",
        "a..b",
        "-a.example",
        "x" * 300,
        "localhost\x00",
    ],
)
def test_malformed_hosts_are_refused(value: str) -> None:
    assert parse_host(value) is None


async def test_location_never_names_a_host_outside_the_allow_list(api: Api) -> None:
    created = await api.client.post(
        "/api/alice/tasks", json={"title": "x"}, headers={**api.auth("alice"), "Host": EVIL}
    )

    assert created.status_code == 201
    location = created.headers["location"]
    assert EVIL not in location
    # The server's own address (the in-process transport tells none: `localhost`).
    assert location == f"http://localhost/api/alice/tasks/{created.json()['id']}"


async def test_location_uses_an_allowed_host_as_given(api: Api) -> None:
    created = await api.client.post(
        "/api/alice/tasks",
        json={"title": "x"},
        headers={**api.auth("alice"), "Host": "localhost:8123"},
    )

    assert created.headers["location"].startswith("http://localhost:8123/api/alice/tasks/")


async def test_location_and_redirects_use_public_url(api_factory: ApiFactory) -> None:
    async with api_factory(PUBLIC_URL="https://todo.example.com") as api:
        created = await api.client.post(
            "/api/alice/tasks", json={"title": "x"}, headers={**api.auth("alice"), "Host": EVIL}
        )
        redirect = await api.client.get("/api/alice/tasks/", headers={"Host": EVIL})

    assert created.headers["location"].startswith("https://todo.example.com/api/alice/tasks/")
    assert redirect.status_code in (307, 308)
    assert EVIL not in redirect.headers["location"]
    assert "todo.example.com" in redirect.headers["location"]


async def test_trailing_slash_redirect_never_names_a_host_outside_the_allow_list(
    api: Api,
) -> None:
    redirect = await api.client.get("/api/alice/tasks/", headers={"Host": EVIL})

    assert redirect.status_code in (307, 308)
    assert EVIL not in redirect.headers["location"]
    assert redirect.headers["location"].endswith("/api/alice/tasks")


@pytest.mark.parametrize("path", ["/mcp", METADATA_PATH])
async def test_mcp_and_its_metadata_refuse_a_host_outside_the_allow_list(
    api: Api, path: str
) -> None:
    response = await api.client.get(path, headers={"Host": EVIL})

    body = assert_problem(response, 421)
    assert EVIL not in response.text
    assert body["detail"]


async def test_metadata_names_an_allowed_host(api: Api) -> None:
    response = await api.client.get(METADATA_PATH, headers={"Host": "localhost:9000"})

    assert response.json()["resource"] == "http://localhost:9000/mcp"


@pytest.mark.parametrize("path", ["/health", "/mcp", METADATA_PATH, "/api/alice/tasks"])
async def test_two_host_headers_are_refused(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=[("Host", "localhost"), ("Host", EVIL)])

    assert_problem(response, 400)


@pytest.mark.parametrize("host", ["localhost:evil.example", "localhost evil", "[::1"])
@pytest.mark.parametrize("path", ["/health", "/mcp", METADATA_PATH])
async def test_a_malformed_host_is_refused(api: Api, host: str, path: str) -> None:
    response = await api.client.get(path, headers={"Host": host})

    assert_problem(response, 400)


async def test_any_host_is_served_as_given_when_the_check_is_off(
    api_factory: ApiFactory,
) -> None:
    async with api_factory(ALLOWED_HOSTS="*") as api:
        response = await api.client.get(METADATA_PATH, headers={"Host": "todo.internal:8000"})

    assert response.json()["resource"] == "http://todo.internal:8000/mcp"
