"""Two real `todo-api` processes on one PostgreSQL database, behind a round-robin proxy, behave
as one server: MCP sessions, the chat rate limit, Idempotency-Key races, conversations and
tasks all hold across them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from http_adapter.auth import issue_token
from tests.http_adapter.proxy import RoundRobinProxy, round_robin_proxy
from tests.http_adapter.row_lock import task_count_locked, wait_for_lock_waiters
from tests.support.api import SECRET, make_settings
from tests.support.fake_gemini import FakeGemini, ModelRequest, Reply, text
from tests.support.postgres import admin, database_url_of, scratch_name
from tests.support.processes import Server, todo_api_servers
from tests.support.tools import TOOL_NAMES

CHAT_LIMIT = 3
REQUEST_S = 30
TOOLS = TOOL_NAMES


@dataclass
class Cluster:
    servers: list[Server]
    proxy: RoundRobinProxy
    fake: FakeGemini
    database_url: str
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def auth(self, user: str) -> dict[str, str]:
        settings = make_settings(self.database_url, self.tmp)
        return {"Authorization": f"Bearer {issue_token(settings, SECRET, user, 600)}"}

    def client(self, base_url: str | None = None) -> httpx.AsyncClient:
        """A client that opens a connection per request, so the proxy alternates backends."""
        return httpx.AsyncClient(
            base_url=base_url or self.url,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=REQUEST_S,
        )

    def output(self) -> str:
        return "\n".join(server.output() for server in self.servers)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def module_database(postgres_template: str | None) -> Iterator[str]:
    """A migrated PostgreSQL database shared by the tests of this module (they use distinct
    users), so the two servers start once."""
    if postgres_template is None:
        pytest.skip("PostgreSQL does not answer")
    name = scratch_name("processes")
    anyio.run(admin, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        yield database_url_of(name)
    finally:
        anyio.run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def answer(request: ModelRequest) -> Reply:
    return text(f"Heard: {request.last_user_text()}")


@pytest.fixture(scope="module")
async def cluster(
    module_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("processes")
    with FakeGemini() as fake:
        fake.respond(answer)
        settings = {
            "DATABASE_URL": module_database,
            "BETTER_AUTH_SECRET": SECRET,
            "GEMINI_API_KEY": "test-key",
            "GEMINI_BASE_URL": fake.url,
            "CHAT_RATE_LIMIT": str(CHAT_LIMIT),
        }
        async with round_robin_proxy([]) as proxy:
            # Reached through the balancer, the servers are told its address, as a deployment
            # behind one does: `Host` names it, port included.
            settings["PUBLIC_URL"] = f"http://127.0.0.1:{proxy.port}"
            async with todo_api_servers(2, tmp, **settings) as servers:
                proxy.route_to([("127.0.0.1", _port(server)) for server in servers])
                yield Cluster(servers, proxy, fake, module_database, tmp)


def both_served(cluster: Cluster, before: dict[int, int]) -> bool:
    return all(cluster.proxy.connections[i] > before.get(i, 0) for i in (0, 1))


async def test_an_mcp_session_spread_over_both_processes(cluster: Cluster) -> None:
    before = dict(cluster.proxy.connections)
    http_client = httpx2.AsyncClient(
        headers=cluster.auth("mcp-user"),
        limits=httpx2.Limits(max_keepalive_connections=0),
        timeout=httpx2.Timeout(REQUEST_S),
    )
    with anyio.fail_after(REQUEST_S):
        async with (
            http_client,
            streamable_http_client(f"{cluster.url}/mcp", http_client=http_client) as streams,
            ClientSession(*streams) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            added = await session.call_tool("add_task", {"title": "Spread out"})
            listed = await session.call_tool("list_tasks", {})

    assert {tool.name for tool in tools.tools} == TOOLS
    assert not added.is_error, added.content
    assert listed.structured_content == {"tasks": [added.structured_content], "total": 1}
    assert both_served(cluster, before), cluster.proxy.connections


async def test_the_chat_rate_limit_is_exact_across_processes(cluster: Cluster) -> None:
    before = dict(cluster.proxy.connections)
    user = "chatty"
    async with cluster.client() as client:
        statuses = [
            (
                await client.post(
                    f"/api/{user}/chat", json={"message": f"m{n}"}, headers=cluster.auth(user)
                )
            ).status_code
            for n in range(2 * CHAT_LIMIT)
        ]

    assert statuses == [200] * CHAT_LIMIT + [429] * CHAT_LIMIT, cluster.output()
    assert both_served(cluster, before), cluster.proxy.connections


async def test_a_conversation_continues_on_the_other_process(cluster: Cluster) -> None:
    user = "talker"
    a, b = (cluster.client(server.url) for server in cluster.servers)
    async with a, b:
        first = await a.post(
            f"/api/{user}/chat", json={"message": "Remember the milk"}, headers=cluster.auth(user)
        )
        assert first.status_code == 200, first.text
        conversation_id = first.json()["conversation_id"]
        second = await b.post(
            f"/api/{user}/chat",
            json={"message": "What did I say?", "conversation_id": conversation_id},
            headers=cluster.auth(user),
        )
        detail = await a.get(
            f"/api/{user}/conversations/{conversation_id}", headers=cluster.auth(user)
        )

    assert second.status_code == 200, second.text
    assert second.json()["conversation_id"] == conversation_id
    history = cluster.fake.requests[-1].contents
    assert "Remember the milk" in str(history)
    assert [m["role"] for m in detail.json()["messages"]] == ["user", "assistant"] * 2


async def test_a_task_written_on_one_process_is_the_same_on_the_other(cluster: Cluster) -> None:
    user = "writer"
    a, b = (cluster.client(server.url) for server in cluster.servers)
    async with a, b:
        created = await a.post(
            f"/api/{user}/tasks", json={"title": "Shared"}, headers=cluster.auth(user)
        )
        assert created.status_code == 201, created.text
        path = f"/api/{user}/tasks/{created.json()['id']}"
        seen = await b.get(path, headers=cluster.auth(user))
        patched = await b.patch(path, json={"completed": True}, headers=cluster.auth(user))
        seen_again = await a.get(path, headers=cluster.auth(user))

    assert seen.status_code == 200
    assert seen.json() == created.json()
    assert seen.headers["etag"] == created.headers["etag"]
    assert seen_again.json() == patched.json()
    assert seen_again.headers["etag"] == patched.headers["etag"] != created.headers["etag"]


async def test_an_idempotency_key_in_flight_on_one_process_is_409_on_the_other(
    cluster: Cluster,
) -> None:
    user = "racer"
    body = {"title": "Once across processes"}
    a, b = (cluster.client(server.url) for server in cluster.servers)
    first: list[httpx.Response] = []
    async with a, b:
        before = await a.post(
            f"/api/{user}/tasks",
            json={"title": "Before"},
            headers=cluster.auth(user),
        )
        assert before.status_code == 201, before.text
        keyed = {**cluster.auth(user), "Idempotency-Key": "race"}

        async def post_first() -> None:
            first.append(await a.post(f"/api/{user}/tasks", json=body, headers=keyed))

        with anyio.fail_after(REQUEST_S):
            # Left in reverse order: the lock goes first, then the group waits for the first.
            async with (
                anyio.create_task_group() as group,
                task_count_locked(cluster.database_url, user) as lock,
            ):
                group.start_soon(post_first)
                await wait_for_lock_waiters(lock)
                second = await b.post(f"/api/{user}/tasks", json=body, headers=keyed)
                assert second.status_code == 409, second.text
                assert not first
        replay = await b.post(f"/api/{user}/tasks", json=body, headers=keyed)
        listed = await b.get(f"/api/{user}/tasks", headers=cluster.auth(user))

    assert first[0].status_code == 201, first[0].text
    assert replay.status_code == 201
    assert replay.json() == first[0].json()
    assert [t["title"] for t in listed.json()] == ["Before", "Once across processes"]


def _port(server: Server) -> int:
    port = httpx.URL(server.url).port
    assert port is not None, server.url
    return port
