"""/mcp: the MCP server over Streamable HTTP behind the REST tokens, its guard (Host, Origin,
token) and OAuth resource metadata, and one task store shared by REST, /mcp and stdio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from http_adapter.mcp_http import METADATA_PATH
from tests.support.api import (
    BASE_URL,
    MCP_HEADERS,
    MCP_SESSION_S,
    Api,
    ApiFactory,
    mcp_session,
    post_initialize,
)
from tests.support.deadlines import deadline
from tests.support.environment import clean_environment
from tests.support.processes import TODO_MCP
from tests.support.tools import TOOL_NAMES

TOOLS = TOOL_NAMES
METADATA_URL = f"{BASE_URL}{METADATA_PATH}"
# Bounded wait: a stdio server starts cold.
STDIO_S = deadline(90)
# Never reached: no test here presents a token that needs its keys.
BETTER_AUTH_URL = "http://localhost:3000"


@pytest.fixture
async def oauth_api(api_factory: ApiFactory) -> AsyncIterator[Api]:
    """The app with Better Auth and its public URL configured, so /mcp is an OAuth protected
    resource."""
    async with api_factory(BETTER_AUTH_URL=BETTER_AUTH_URL, PUBLIC_URL=BASE_URL) as api:
        yield api


@asynccontextmanager
async def stdio_session(
    database_url: str, tmp_path: Path, user: str
) -> AsyncIterator[ClientSession]:
    """`todo-mcp --user USER` on the same database, driven by the official MCP client."""
    params = StdioServerParameters(
        command=str(TODO_MCP),
        args=["--user", user],
        env=clean_environment(tmp_path / "stdio-data", DATABASE_URL=database_url),
        cwd=tmp_path,
    )
    with (
        anyio.fail_after(STDIO_S),
        (tmp_path / "todo-mcp.stderr").open("w") as errlog,
    ):
        async with (
            stdio_client(params, errlog=errlog) as streams,
            ClientSession(*streams) as session,
        ):
            await session.initialize()
            yield session


# --- the guard: token, Origin, Host ------------------------------------------------------------


@pytest.mark.sqlite_only
async def test_mcp_without_token_is_401_pointing_at_the_resource_metadata(
    oauth_api: Api,
) -> None:
    for response in (await post_initialize(oauth_api), await oauth_api.client.get("/mcp")):
        assert response.status_code == 401, response.text
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert f'resource_metadata="{METADATA_URL}"' in challenge
        assert "error=" not in challenge  # no token, no error (RFC 6750 §3.1)


@pytest.mark.sqlite_only
async def test_mcp_with_a_bad_token_is_401_invalid_token(oauth_api: Api) -> None:
    response = await post_initialize(oauth_api, Authorization="Bearer not-a-jwt")

    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{METADATA_URL}"' in challenge


@pytest.mark.sqlite_only
async def test_shared_secret_mode_401_points_at_metadata_naming_no_sign_in(api: Api) -> None:
    without = await post_initialize(api)
    bad = await post_initialize(api, Authorization="Bearer not-a-jwt")
    metadata = await api.client.get(METADATA_PATH)

    assert without.status_code == 401, without.text
    assert without.headers["www-authenticate"] == (
        f'Bearer realm="todo-mcp", resource_metadata="{METADATA_URL}"'
    )
    assert bad.status_code == 401, bad.text
    assert bad.headers["www-authenticate"] == (
        f'Bearer realm="todo-mcp", resource_metadata="{METADATA_URL}", error="invalid_token"'
    )
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["resource"] == f"{BASE_URL}/mcp"
    assert "authorization_servers" not in metadata.json()


async def test_mcp_with_a_token_initializes_without_a_session(api: Api) -> None:
    response = await post_initialize(api, **api.auth("alice"))

    assert response.status_code == 200, response.text
    # Stateless and plain JSON: no session for another process to miss, no stream to resume.
    assert response.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in response.headers
    assert response.json()["result"]["serverInfo"]["name"] == "todo-mcp"


async def test_mcp_has_no_session_to_stream_from_or_end(api: Api) -> None:
    alice = MCP_HEADERS | api.auth("alice")

    assert (await api.client.get("/mcp", headers=alice)).status_code == 405
    assert (await api.client.delete("/mcp", headers=alice)).status_code == 405


@pytest.mark.sqlite_only
async def test_mcp_refuses_an_origin_outside_cors_origins(api: Api) -> None:
    refused = await post_initialize(api, **api.auth("alice"), Origin="https://evil.example")
    allowed = await post_initialize(api, **api.auth("alice"), Origin="http://localhost:3000")

    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert allowed.status_code == 200, allowed.text


# The default list's names (on the port the server listens on) and one on a port of its own.
LOCAL_HOSTS = "127.0.0.1,localhost,localhost:8765"


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("127.0.0.1", "http://127.0.0.1"),
        ("localhost:8765", "http://localhost:8765"),
        ("LOCALHOST:8765", "http://localhost:8765"),
        ("localhost:80", "http://localhost"),
    ],
)
async def test_mcp_accepts_the_servers_own_origin(
    api_factory: ApiFactory, host: str, origin: str
) -> None:
    async with api_factory(ALLOWED_HOSTS=LOCAL_HOSTS) as api:
        response = await post_initialize(api, **api.auth("alice"), Host=host, Origin=origin)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8765", "http://localhost:8766"),  # another port
        ("localhost:8765", "https://localhost:8765"),  # another scheme
        ("localhost:8765", "http://127.0.0.1:8765"),  # another host
        ("localhost:8765", "null"),
        ("localhost:8765", "http://localhost:8765.evil.example"),
    ],
)
async def test_mcp_refuses_an_origin_that_is_not_quite_its_own(
    api_factory: ApiFactory, host: str, origin: str
) -> None:
    async with api_factory(ALLOWED_HOSTS=LOCAL_HOSTS) as api:
        response = await post_initialize(api, **api.auth("alice"), Host=host, Origin=origin)

    assert response.status_code == 403, response.text


async def test_public_urls_origin_is_the_servers_own(api_factory: ApiFactory) -> None:
    async with api_factory(PUBLIC_URL="https://todo.example.com") as api:
        alice = api.auth("alice")
        # Behind a TLS proxy the request itself arrives over http on another host name.
        public = await post_initialize(api, **alice, Origin="https://todo.example.com")
        public_port = await post_initialize(api, **alice, Origin="https://todo.example.com:443")
        plain = await post_initialize(api, **alice, Origin="http://todo.example.com")

    assert public.status_code == 200, public.text
    assert public_port.status_code == 200, public_port.text
    assert plain.status_code == 403, plain.text


async def test_with_the_host_check_off_the_requests_host_is_not_an_own_origin(
    api_factory: ApiFactory,
) -> None:
    # A rebound DNS name would otherwise pass as the server's own origin.
    async with api_factory(ALLOWED_HOSTS="*") as api:
        response = await post_initialize(
            api, **api.auth("alice"), Host="rebound.example", Origin="http://rebound.example"
        )

    assert response.status_code == 403, response.text


@pytest.mark.sqlite_only
async def test_configured_cors_origins_are_the_origins_mcp_accepts(
    api_factory: ApiFactory,
) -> None:
    async with api_factory(
        CORS_ORIGINS="https://app.example.com, https://admin.example.com"
    ) as api:
        alice = api.auth("alice")
        answers = {
            origin: (await post_initialize(api, **alice, Origin=origin)).status_code
            for origin in (
                "https://app.example.com",
                "https://admin.example.com",
                "http://localhost:3000",  # the default list's, no longer configured
                "https://evil.example",
            )
        }

    assert answers == {
        "https://app.example.com": 200,
        "https://admin.example.com": 200,
        "http://localhost:3000": 403,
        "https://evil.example": 403,
    }


@pytest.mark.sqlite_only
async def test_mcp_refuses_a_host_outside_allowed_hosts(api: Api) -> None:
    alice = api.auth("alice")
    refused = await post_initialize(api, **alice, Host="evil.example")
    # The in-process server listens on port 80: its own port passes, another server's not.
    own_port = await post_initialize(api, **alice, Host="localhost:80")
    other_port = await post_initialize(api, **alice, Host="localhost:8000")

    assert refused.status_code == 421, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert own_port.status_code == 200, own_port.text
    assert other_port.status_code == 421, other_port.text


@pytest.mark.sqlite_only
async def test_allowed_hosts_star_turns_the_host_check_off(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="*") as api:
        response = await post_initialize(api, **api.auth("alice"), Host="any.example")

    assert response.status_code == 200, response.text


@pytest.mark.sqlite_only
async def test_allowed_hosts_replaces_the_default_list(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="todo.internal, api.todo.internal") as api:
        alice = api.auth("alice")
        listed = await post_initialize(api, **alice, Host="api.todo.internal")
        loopback = await post_initialize(api, **alice, Host="127.0.0.1")

    assert listed.status_code == 200, listed.text
    assert loopback.status_code == 421, loopback.text


# --- OAuth protected resource metadata ---------------------------------------------------------


@pytest.mark.sqlite_only
async def test_resource_metadata_names_better_auths_oauth_provider(oauth_api: Api) -> None:
    response = await oauth_api.client.get(METADATA_PATH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resource"] == f"{BASE_URL}/mcp"
    assert body["authorization_servers"] == [f"{BETTER_AUTH_URL}/api/auth"]


@pytest.mark.sqlite_only
async def test_oauth_issuer_names_another_authorization_server(api_factory: ApiFactory) -> None:
    async with api_factory(
        BETTER_AUTH_URL=BETTER_AUTH_URL,
        OAUTH_ISSUER="https://auth.example/oauth/",
        PUBLIC_URL=BASE_URL,
    ) as api:
        body = (await api.client.get(METADATA_PATH)).json()

    assert body["authorization_servers"] == ["https://auth.example/oauth"]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"BETTER_AUTH_URL": BETTER_AUTH_URL, "OAUTH_ISSUER": "none"},
        # OAuth access tokens are refused without it: signing in would lead nowhere.
        {"BETTER_AUTH_URL": BETTER_AUTH_URL},
    ],
    ids=["shared secret", "OAUTH_ISSUER=none", "no PUBLIC_URL"],
)
async def test_without_an_authorization_server_the_metadata_names_none(
    api_factory: ApiFactory, settings: dict[str, str]
) -> None:
    async with api_factory(**settings) as api:
        response = await api.client.get(METADATA_PATH)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "resource": f"{BASE_URL}/mcp",
        "bearer_methods_supported": ["header"],
        "resource_name": "todo-mcp",
    }


@pytest.mark.sqlite_only
async def test_public_url_is_the_base_of_the_resource_and_its_metadata(
    api_factory: ApiFactory,
) -> None:
    public = "https://todo.example.com"
    async with api_factory(PUBLIC_URL=public, BETTER_AUTH_URL=BETTER_AUTH_URL) as api:
        body = (await api.client.get(METADATA_PATH)).json()
        unauthorized = await post_initialize(api, Host="todo.example.com")
        authorized = await post_initialize(api, **api.auth("alice"), Host="todo.example.com")

    assert body["resource"] == f"{public}/mcp"
    assert unauthorized.status_code == 401, unauthorized.text
    assert (
        f'resource_metadata="{public}{METADATA_PATH}"' in unauthorized.headers["www-authenticate"]
    )
    assert authorized.status_code == 200, authorized.text  # PUBLIC_URL's host is allowed


# --- a whole MCP session over /mcp -------------------------------------------------------------


async def test_mcp_session_lists_the_task_tools(api: Api) -> None:
    async with mcp_session(api, "alice") as client:
        tools = await client.list_tools()

    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert "user_id" not in tool.input_schema.get("properties", {})


async def test_official_mcp_client_runs_a_session_over_mcp(api: Api) -> None:
    http_client = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=api.app),
        headers=api.auth("alice"),
        timeout=httpx2.Timeout(MCP_SESSION_S),
    )
    with anyio.fail_after(MCP_SESSION_S):
        async with (
            http_client,
            streamable_http_client(f"{BASE_URL}/mcp", http_client=http_client) as streams,
            ClientSession(*streams) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            added = await session.call_tool("add_task", {"title": "Call the bank"})
            listed = await session.call_tool("list_tasks", {})

    assert {tool.name for tool in tools.tools} == TOOLS
    assert not added.is_error
    assert added.structured_content is not None
    assert listed.structured_content == {"tasks": [added.structured_content], "total": 1}


async def test_add_task_over_mcp_belongs_to_the_token_subject(api: Api) -> None:
    async with mcp_session(api, "alice") as client:
        result = await client.call_tool("add_task", {"title": "Water the plants"})
    task = result.structured_content
    assert task is not None

    own = await api.client.get(f"/api/alice/tasks/{task['id']}", headers=api.auth("alice"))
    other = await api.client.get(f"/api/bob/tasks/{task['id']}", headers=api.auth("bob"))
    others_list = await api.client.get("/api/bob/tasks", headers=api.auth("bob"))

    assert task["user_id"] == "alice"
    assert own.status_code == 200, own.text
    assert own.json()["title"] == "Water the plants"
    assert other.status_code == 404, other.text
    assert others_list.json() == []


async def test_mcp_session_sees_only_its_own_users_tasks(api: Api) -> None:
    created = await api.client.post(
        "/api/alice/tasks", json={"title": "Alice's secret"}, headers=api.auth("alice")
    )
    task_id = created.json()["id"]

    async with mcp_session(api, "bob") as client:
        listed = await client.call_tool("list_tasks", {})
        fetched = await client.call_tool("get_task", {"task_id": task_id}, raise_on_error=False)

    assert listed.structured_content == {"tasks": [], "total": 0}
    assert fetched.is_error
    assert f"Task {task_id} not found" in fetched.content[0].text  # type: ignore[union-attr]


async def test_user_id_argument_is_rejected_over_mcp(api: Api) -> None:
    async with mcp_session(api, "alice") as client:
        result = await client.call_tool(
            "add_task", {"title": "Sneaky", "user_id": "bob"}, raise_on_error=False
        )

    assert result.is_error
    assert "user_id" in str(result.content)
    bobs = await api.client.get("/api/bob/tasks", headers=api.auth("bob"))
    alices = await api.client.get("/api/alice/tasks", headers=api.auth("alice"))
    assert bobs.json() == []
    assert alices.json() == []


async def test_mcp_version_is_the_value_behind_the_rest_etag(api: Api) -> None:
    alice = api.auth("alice")
    created = await api.client.post("/api/alice/tasks", json={"title": "Versioned"}, headers=alice)
    assert created.status_code == 201, created.text
    url = f"/api/alice/tasks/{created.json()['id']}"

    async with mcp_session(api, "alice") as client:
        fetched = await client.call_tool("get_task", {"task_id": created.json()["id"]})
        assert fetched.structured_content is not None
        assert created.headers["etag"] == f'"{fetched.structured_content["version"]}"'

        patched = await api.client.patch(url, json={"priority": "high"}, headers=alice)
        assert patched.status_code == 200, patched.text
        updated = await client.call_tool(
            "update_task",
            {
                "task_id": created.json()["id"],
                "title": "Versioned again",
                # The version REST's ETag names is the one MCP expects.
                "expected_version": int(patched.headers["etag"].strip('"')),
            },
        )
    assert updated.structured_content is not None
    version = updated.structured_content["version"]

    current = await api.client.get(url, headers=alice)
    assert current.headers["etag"] == f'"{version}"'
    assert current.headers["etag"] not in (created.headers["etag"], patched.headers["etag"])
    stale = await api.client.patch(
        url, json={"title": "x"}, headers=alice | {"If-Match": patched.headers["etag"]}
    )
    assert stale.status_code == 412, stale.text


# --- one store, three transports ---------------------------------------------------------------


async def test_task_written_over_rest_is_seen_over_stdio_and_over_mcp(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    created = await api.client.post(
        "/api/alice/tasks",
        json={"title": "Renew passport", "priority": "high", "tags": ["admin"]},
        headers=api.auth("alice"),
    )
    assert created.status_code == 201, created.text
    task = created.json()

    async with stdio_session(database_url, tmp_path, "alice") as stdio:
        over_stdio = await stdio.call_tool("list_tasks", {})
        written = await stdio.call_tool("add_task", {"title": "Book the flight"})
    async with mcp_session(api, "alice") as client:
        over_http = await client.call_tool("list_tasks", {})
    rest = await api.client.get("/api/alice/tasks", headers=api.auth("alice"))

    assert over_stdio.structured_content is not None
    assert [t["id"] for t in over_stdio.structured_content["tasks"]] == [task["id"]]
    stdio_task = over_stdio.structured_content["tasks"][0]
    assert {k: stdio_task[k] for k in task} == task
    assert over_http.structured_content is not None
    assert [t["title"] for t in over_http.structured_content["tasks"]] == [
        "Renew passport",
        "Book the flight",
    ]
    assert written.structured_content is not None
    assert written.structured_content["user_id"] == "alice"
    assert [t["title"] for t in rest.json()] == ["Renew passport", "Book the flight"]


async def test_stdio_server_of_another_user_does_not_see_the_task(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    created = await api.client.post(
        "/api/alice/tasks", json={"title": "Mine"}, headers=api.auth("alice")
    )
    assert created.status_code == 201, created.text

    async with stdio_session(database_url, tmp_path, "bob") as stdio:
        listed = await stdio.call_tool("list_tasks", {})

    assert listed.structured_content == {"tasks": [], "total": 0}
