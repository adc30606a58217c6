"""Signing in to /mcp the way an MCP host does, against a real Better Auth server (Node, its
OAuth 2.1 provider and JWT plugin, on PostgreSQL): discovery from the 401, dynamic client
registration, authorization code with PKCE and `resource`, and the access token at /mcp."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import asyncpg
import httpx
import jwt
import pytest
from sqlalchemy.engine import URL, make_url

from http_adapter.mcp_http import METADATA_PATH
from tests.http_adapter.node import node_modules, running_node, workdir_with
from tests.support.api import BASE_URL, Api, ApiFactory, mcp_client, post_initialize
from tests.support.deadlines import deadline
from tests.support.postgres import POSTGRES_URL, scratch_name

SERVER_DIR = Path(__file__).parent / "better_auth"
MCP_URL = f"{BASE_URL}/mcp"
ELSEWHERE = f"{BASE_URL}/elsewhere"  # another resource the same server issues tokens for
OTHER_PORT = "127.0.0.1:9398"
ON_ANOTHER_PORT = f"http://{OTHER_PORT}/mcp"  # another server's /mcp on the same host
REDIRECT_URI = "https://client.example/callback"
PASSWORD = "correct horse battery staple"
# Node starts, creates Better Auth's schema and listens: seconds, bounded generously.
STARTUP_S = deadline(90)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module-wide, so that one Better Auth server serves the module's tests


@pytest.fixture(scope="module")
def better_auth_modules() -> Path:
    return node_modules(SERVER_DIR)


@pytest.fixture(scope="module")
def better_auth_database(postgres_template: str | None) -> Iterator[str]:
    """An empty PostgreSQL database for the Better Auth server (it creates its own schema)."""
    if postgres_template is None:
        pytest.skip("PostgreSQL does not answer; the Better Auth server keeps its data there")
    admin = make_url(POSTGRES_URL).set(drivername="postgresql")
    name = scratch_name("better_auth")
    anyio.run(_admin, admin, f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        anyio.run(_admin, admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(url: URL, statement: str) -> None:
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def better_auth(
    better_auth_modules: Path, better_auth_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A Better Auth server for this module's tests (each signs up its own user); yields its
    base URL."""
    workdir = tmp_path_factory.mktemp("better_auth")
    script = workdir_with(SERVER_DIR / "server.mjs", better_auth_modules, workdir)
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": better_auth_database,
        "BETTER_AUTH_SECRET": secrets.token_urlsafe(32),
        "OAUTH_RESOURCES": f"{MCP_URL},{ELSEWHERE},{ON_ANOTHER_PORT}",
    }
    async with running_node(
        ["node", str(script)], env, workdir, ready="listening ", wait_s=STARTUP_S
    ) as url:
        yield url


@dataclass
class Host:
    """What an MCP host does to get a token, against the server `/mcp` names."""

    client: httpx.AsyncClient  # keeps the user's Better Auth session cookie, like a browser
    authorization_endpoint: str
    token_endpoint: str
    client_id: str

    async def authorize(self, resource: str, email: str) -> str:
        """Authorization code with PKCE for `resource`, signing in as `email` when asked to;
        returns the access token."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(8)
        response = await self.client.get(
            self.authorization_endpoint,
            params={
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": REDIRECT_URI,
                "state": state,
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
                "resource": resource,
            },
        )
        assert response.status_code == 302, response.text
        target = response.headers["location"]
        # The login and consent pages of a frontend POST the signed query they were given.
        if target.startswith("/sign-in?"):
            signed_in = await self.client.post(
                "/api/auth/sign-in/email",
                json={"email": email, "password": PASSWORD, "oauth_query": urlsplit(target).query},
            )
            assert signed_in.status_code == 200, signed_in.text
            target = signed_in.json()["url"]
        if target.startswith("/consent?"):
            consented = await self.client.post(
                "/api/auth/oauth2/consent",
                json={"accept": True, "oauth_query": urlsplit(target).query},
            )
            assert consented.status_code == 200, consented.text
            target = consented.json()["url"]
        assert target.startswith(f"{REDIRECT_URI}?"), target
        answer = {name: values[0] for name, values in parse_qs(urlsplit(target).query).items()}
        assert answer["state"] == state
        token = await self.client.post(
            self.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "code_verifier": verifier,
                "redirect_uri": REDIRECT_URI,
                "client_id": self.client_id,
                "resource": resource,
            },
        )
        assert token.status_code == 200, token.text
        access_token: str = token.json()["access_token"]
        return access_token


async def discover_and_register(
    api: Api, client: httpx.AsyncClient, *, issuer: str | None = None
) -> tuple[Host, str]:
    """From /mcp's 401 to a registered client, as RFC 9728, RFC 8414 and RFC 7591 say;
    returns the host and the issuer /mcp named (or `issuer`, for a server that names none)."""
    challenge = (await post_initialize(api)).headers["www-authenticate"]
    metadata_url = challenge.partition('resource_metadata="')[2].partition('"')[0]
    assert metadata_url == f"{BASE_URL}{METADATA_PATH}"
    resource = (await api.client.get(metadata_url)).json()
    assert resource["resource"] == MCP_URL
    if issuer is None:
        [issuer] = resource["authorization_servers"]
    else:
        assert "authorization_servers" not in resource
    parts = urlsplit(issuer)
    well_known = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server"
    server = (await client.get(f"{well_known}{parts.path}")).json()
    assert server["issuer"] == issuer
    registered = await client.post(
        server["registration_endpoint"],
        json={
            "client_name": "An MCP host",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
    )
    assert registered.status_code in (200, 201), registered.text
    host = Host(
        client=client,
        authorization_endpoint=server["authorization_endpoint"],
        token_endpoint=server["token_endpoint"],
        client_id=registered.json()["client_id"],
    )
    return host, issuer


async def sign_up(client: httpx.AsyncClient) -> tuple[str, str]:
    """A new Better Auth user, as the frontend's sign-up page makes one: (email, user id)."""
    email = f"{secrets.token_hex(6)}@example.com"
    response = await client.post(
        "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()  # signed up elsewhere; the host's browser has no session yet
    user_id: str = response.json()["user"]["id"]
    return email, user_id


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


async def test_a_user_signs_in_through_better_auth_and_uses_mcp_as_themselves(
    api_factory: ApiFactory, better_auth: str
) -> None:
    async with (
        api_factory(BETTER_AUTH_URL=better_auth, PUBLIC_URL=BASE_URL) as api,
        httpx.AsyncClient(base_url=better_auth, headers={"Origin": better_auth}) as client,
    ):
        email, user_id = await sign_up(client)
        host, issuer = await discover_and_register(api, client)
        token = await host.authorize(MCP_URL, email)
        header, claims = unverified(token)

        async with mcp_client(api, {"Authorization": f"Bearer {token}"}) as mcp:
            added = await mcp.call_tool("add_task", {"title": "Sign the lease"})
            listed = await mcp.call_tool("list_tasks", {})
        # The frontend's token for the same user (the JWT plugin's) reads it over REST.
        frontend_token = (await client.get("/api/auth/token")).json()["token"]
        rest = await api.client.get(
            f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {frontend_token}"}
        )
        at_rest = await api.client.get(
            f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {token}"}
        )
        frontend_at_mcp = await post_initialize(api, Authorization=f"Bearer {frontend_token}")

    assert issuer == f"{better_auth}/api/auth"
    assert header["typ"] == "at+jwt"
    assert claims["iss"] == issuer
    assert claims["sub"] == user_id
    assert added.structured_content is not None
    assert added.structured_content["user_id"] == user_id
    assert listed.structured_content is not None
    assert [task["title"] for task in listed.structured_content["tasks"]] == ["Sign the lease"]
    assert rest.status_code == 200, rest.text
    assert [task["title"] for task in rest.json()] == ["Sign the lease"]
    assert at_rest.status_code == 401, at_rest.text  # an access token for /mcp is for /mcp only
    assert frontend_at_mcp.status_code == 200, frontend_at_mcp.text


async def test_a_token_better_auth_issued_for_another_resource_is_refused_at_mcp(
    api_factory: ApiFactory, better_auth: str
) -> None:
    async with (
        api_factory(BETTER_AUTH_URL=better_auth, PUBLIC_URL=BASE_URL) as api,
        httpx.AsyncClient(base_url=better_auth, headers={"Origin": better_auth}) as client,
    ):
        email, _ = await sign_up(client)
        host, _ = await discover_and_register(api, client)
        elsewhere = await host.authorize(ELSEWHERE, email)
        for_mcp = await host.authorize(MCP_URL, email)  # same user, same client: only aud differs

        refused = await post_initialize(api, Authorization=f"Bearer {elsewhere}")
        accepted = await post_initialize(api, Authorization=f"Bearer {for_mcp}")

    audience = unverified(elsewhere)[1]["aud"]
    assert ELSEWHERE in audience
    assert MCP_URL not in audience
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert accepted.status_code == 200, accepted.text


async def test_a_token_for_another_port_of_this_host_is_refused_whatever_host_the_request_names(
    api_factory: ApiFactory, better_auth: str
) -> None:
    async with (
        # With the Host check off, only the audience check stands between the token and /mcp.
        api_factory(BETTER_AUTH_URL=better_auth, PUBLIC_URL=BASE_URL, ALLOWED_HOSTS="*") as api,
        httpx.AsyncClient(base_url=better_auth, headers={"Origin": better_auth}) as client,
    ):
        email, _ = await sign_up(client)
        host, _ = await discover_and_register(api, client)
        other = await host.authorize(ON_ANOTHER_PORT, email)

        as_other_host = await post_initialize(api, Authorization=f"Bearer {other}", Host=OTHER_PORT)
        as_this_host = await post_initialize(api, Authorization=f"Bearer {other}")

    assert as_other_host.status_code == 401, as_other_host.text
    assert as_this_host.status_code == 401, as_this_host.text


async def test_without_public_url_oauth_tokens_are_off_and_the_log_says_so(
    api_factory: ApiFactory, better_auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        api_factory(BETTER_AUTH_URL=better_auth, ALLOWED_HOSTS="*") as api,
        httpx.AsyncClient(base_url=better_auth, headers={"Origin": better_auth}) as client,
    ):
        email, _ = await sign_up(client)
        # Told of no authorization server (its tokens would be refused); one that knows it
        # anyway gets tokens that /mcp refuses.
        host, _ = await discover_and_register(api, client, issuer=f"{better_auth}/api/auth")
        for_mcp = await host.authorize(MCP_URL, email)
        other = await host.authorize(ON_ANOTHER_PORT, email)

        refused = await post_initialize(api, Authorization=f"Bearer {for_mcp}")
        as_other_host = await post_initialize(api, Authorization=f"Bearer {other}", Host=OTHER_PORT)
        frontend_token = (await client.get("/api/auth/token")).json()["token"]
        frontend = await post_initialize(api, Authorization=f"Bearer {frontend_token}")

    assert refused.status_code == 401, refused.text
    assert "PUBLIC_URL" in refused.json()["detail"]
    assert as_other_host.status_code == 401, as_other_host.text
    assert frontend.status_code == 200, frontend.text  # the JWT plugin's tokens still work
    [said] = [r.getMessage() for r in caplog.records if "OAuth access tokens" in r.getMessage()]
    assert "PUBLIC_URL is not set" in said
