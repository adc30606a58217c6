"""The `Host` header is parsed strictly and never written back when it is not an allowed host:
not into `Location`, the trailing-slash redirect or the /mcp resource metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from http_adapter.hosts import parse_host
from http_adapter.mcp_http import METADATA_PATH
from tests.support.api import Api, ApiFactory, make_settings
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


async def test_location_uses_an_allowed_host_as_given(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="localhost:8123") as api:
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


async def test_metadata_names_an_allowed_host(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="localhost:9000") as api:
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


async def test_an_entry_without_a_port_allows_only_the_servers_own_port(api: Api) -> None:
    # The in-process server listens on 127.0.0.1:80; the default list names no port.
    answers = {
        host: (await api.client.get(METADATA_PATH, headers={"Host": host})).status_code
        for host in ("127.0.0.1", "127.0.0.1:80", "localhost:80", "127.0.0.1:9398", "[::1]:9398")
    }

    assert answers == {
        "127.0.0.1": 200,
        "127.0.0.1:80": 200,
        "localhost:80": 200,
        "127.0.0.1:9398": 421,
        "[::1]:9398": 421,
    }


async def test_an_entry_with_a_port_allows_that_port_only(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="todo.internal:8443, [::1]:9000, 10.0.0.5") as api:
        answers = {
            host: (await api.client.get(METADATA_PATH, headers={"Host": host})).status_code
            for host in (
                "todo.internal:8443",
                "todo.internal:8444",
                "todo.internal",  # port 80, the scheme's default
                "[::1]:9000",
                "[::1]:9001",
                "10.0.0.5",
                "10.0.0.5:9398",
            )
        }

    assert answers == {
        "todo.internal:8443": 200,
        "todo.internal:8444": 421,
        "todo.internal": 421,
        "[::1]:9000": 200,
        "[::1]:9001": 421,
        "10.0.0.5": 200,
        "10.0.0.5:9398": 421,
    }


async def test_public_urls_host_and_port_are_allowed(api_factory: ApiFactory) -> None:
    async with api_factory(PUBLIC_URL="http://todo.example.com:8080") as api:
        public = await api.client.get(METADATA_PATH, headers={"Host": "todo.example.com:8080"})
        other = await api.client.get(METADATA_PATH, headers={"Host": "todo.example.com:8081"})

    assert public.status_code == 200, public.text
    assert other.status_code == 421, other.text


@pytest.mark.parametrize("entry", ["localhost:80a", "a b", "http://todo.example", "[::1"])
def test_a_malformed_allowed_hosts_entry_is_refused_at_start(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ValidationError, match="host name, host:port or IP address"):
        make_settings("sqlite+aiosqlite:///unused.db", tmp_path, ALLOWED_HOSTS=entry)
