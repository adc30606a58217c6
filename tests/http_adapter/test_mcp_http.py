"""/mcp: the MCP server over Streamable HTTP behind the REST tokens, its guard (Host, Origin,
token) and OAuth resource metadata, and one task store shared by REST, /mcp and stdio."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import LATEST_PROTOCOL_VERSION

from http_adapter.mcp_http import METADATA_PATH
from tests.http_adapter.support import BASE_URL, Api, ApiFactory

TOOLS = {
    "add_task",
    "list_tasks",
    "get_task",
    "update_task",
    "complete_task",
    "delete_task",
    "add_tasks",
    "complete_tasks",
}
METADATA_URL = f"{BASE_URL}{METADATA_PATH}"
TODO_MCP = Path(sys.executable).parent / "todo-mcp"
# Bounded waits: a session over the in-process app is quick, a stdio server starts cold.
SESSION_S = 30
STDIO_S = 60
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "test_mcp_http", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


async def post_initialize(api: Api, **headers: str) -> httpx.Response:
    return await api.client.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS | headers)


@asynccontextmanager
async def mcp_session(api: Api, user: str) -> AsyncIterator[Client[Any]]:
    """A real MCP client session over /mcp of the in-process app, as `user`."""

    def in_process(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
        **_: Any,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=api.app),
            headers=headers,
            timeout=timeout or httpx2.Timeout(SESSION_S),
            auth=auth,
        )

    transport = StreamableHttpTransport(
        f"{BASE_URL}/mcp",
        headers=api.auth(user),
        httpx_client_factory=in_process,
    )
    with anyio.fail_after(SESSION_S):
        async with Client(transport) as client:
            yield client


@asynccontextmanager
async def stdio_session(
    database_url: str, tmp_path: Path, user: str
) -> AsyncIterator[ClientSession]:
    """`todo-mcp --user USER` on the same database, driven by the official MCP client."""
    params = StdioServerParameters(
        command=str(TODO_MCP),
        args=["--user", user],
        env={"DATABASE_URL": database_url, "TODO_DATA_DIR": str(tmp_path / "stdio-data")},
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


async def test_mcp_without_token_is_401_pointing_at_the_resource_metadata(api: Api) -> None:
    for response in (await post_initialize(api), await api.client.get("/mcp")):
        assert response.status_code == 401, response.text
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert f'resource_metadata="{METADATA_URL}"' in challenge


async def test_mcp_with_a_bad_token_is_401_invalid_token(api: Api) -> None:
    response = await post_initialize(api, Authorization="Bearer not-a-jwt")

    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{METADATA_URL}"' in challenge


async def test_mcp_with_a_token_initializes(api: Api) -> None:
    response = await post_initialize(api, **api.auth("alice"))

    assert response.status_code == 200, response.text
    assert response.headers.get("mcp-session-id")


async def test_mcp_refuses_an_origin_outside_cors_origins(api: Api) -> None:
    refused = await post_initialize(api, **api.auth("alice"), Origin="https://evil.example")
    allowed = await post_initialize(api, **api.auth("alice"), Origin="http://localhost:3000")

    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert allowed.status_code == 200, allowed.text


async def test_mcp_refuses_a_host_outside_allowed_hosts(api: Api) -> None:
    alice = api.auth("alice")
    refused = await post_initialize(api, **alice, Host="evil.example")
    with_port = await post_initialize(api, **alice, Host="localhost:8000")

    assert refused.status_code == 421, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert with_port.status_code == 200, with_port.text


async def test_allowed_hosts_star_turns_the_host_check_off(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="*") as api:
        response = await post_initialize(api, **api.auth("alice"), Host="any.example")

    assert response.status_code == 200, response.text


async def test_allowed_hosts_replaces_the_default_list(api_factory: ApiFactory) -> None:
    async with api_factory(ALLOWED_HOSTS="todo.internal, api.todo.internal") as api:
        alice = api.auth("alice")
        listed = await post_initialize(api, **alice, Host="api.todo.internal")
        loopback = await post_initialize(api, **alice, Host="127.0.0.1")

    assert listed.status_code == 200, listed.text
    assert loopback.status_code == 421, loopback.text


# --- OAuth protected resource metadata ---------------------------------------------------------


async def test_resource_metadata_names_the_mcp_url(api: Api) -> None:
    response = await api.client.get(METADATA_PATH)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resource"] == f"{BASE_URL}/mcp"
    assert "authorization_servers" not in body


async def test_resource_metadata_names_better_auth_as_authorization_server(
    api_factory: ApiFactory,
) -> None:
    async with api_factory(BETTER_AUTH_URL="http://localhost:3000") as api:
        body = (await api.client.get(METADATA_PATH)).json()

    assert body["authorization_servers"] == ["http://localhost:3000"]
    assert body["resource"] == f"{BASE_URL}/mcp"


async def test_public_url_is_the_base_of_the_resource_and_its_metadata(
    api_factory: ApiFactory,
) -> None:
    public = "https://todo.example.com"
    async with api_factory(PUBLIC_URL=public) as api:
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
