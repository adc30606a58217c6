"""The MCP server over Streamable HTTP at /mcp, behind the same bearer tokens as REST.

The guard checks `Host` (DNS-rebinding), `Origin` and the token before anything reaches the MCP
transport, then hands the transport a verified access token; tools read the user from it. /mcp is
an OAuth protected resource (RFC 9728): its 401 points MCP hosts at its metadata, which names the
authorization server users sign in with, when one is configured.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastmcp.server.auth import AccessToken
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.authentication import AuthCredentials
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from http_adapter.auth import AuthError
from http_adapter.context import AppContext, bearer_challenge
from http_adapter.hosts import allow_list, host_allowed, parse_host
from http_adapter.mcp_envelope import screened
from http_adapter.middleware import note_user
from http_adapter.problems import PROBLEM_JSON, problem_body

METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class McpGuard:
    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self._app = app
        self._ctx = ctx
        self._hosts = allow_list(ctx.settings.host_allow_list())  # fixed while serving
        # The audience OAuth access tokens must name: this server's /mcp as configured, never as
        # a request's `Host` says (a token for another resource of the same provider, on another
        # port of the same host, would pass). Without PUBLIC_URL, such tokens are refused.
        public_url = ctx.settings.public_url
        self._resource = f"{public_url}/mcp" if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        host = parse_host(connection.headers.get("host", ""))  # strict: `a:evil` is no host
        if self._hosts is not None and (host is None or not host_allowed(host, self._hosts, scope)):
            await _problem(421, "This host name is not served here.")(scope, receive, send)
            return
        origin = connection.headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, connection):
            await _problem(403, "This origin may not use /mcp.")(scope, receive, send)
            return
        base_url = self._ctx.base_url(connection)
        try:
            principal = await self._ctx.verifier.verify_header(
                connection.headers.get("authorization"), resource=self._resource
            )
        except AuthError as exc:
            headers = {}
            if exc.status == 401:
                metadata = f'resource_metadata="{base_url}{METADATA_PATH}"'
                headers["WWW-Authenticate"] = bearer_challenge(exc, metadata)
            await _problem(exc.status, exc.detail, headers)(scope, receive, send)
            return
        note_user(principal.user_id)
        token = AccessToken(
            token=principal.token,
            client_id=principal.user_id,
            scopes=[],
            expires_at=principal.expires_at,
            subject=principal.user_id,
            claims=principal.claims,
        )
        scope["user"] = AuthenticatedUser(token)
        scope["auth"] = AuthCredentials([])
        checked = await screened(scope, receive, send)
        if checked is not None:
            await self._app(scope, checked, send)

    def _origin_allowed(self, origin: str, connection: HTTPConnection) -> bool:
        """`CORS_ORIGINS`, and the server's own origin: `PUBLIC_URL`'s, or the request's when its
        `Host` passed the allow-list (with the check off, a rebound name would be "own" too)."""
        allowed = self._ctx.settings.cors_origins
        if "*" in allowed or origin in allowed:
            return True
        own = [self._ctx.settings.public_url] if self._ctx.settings.public_url else []
        if self._hosts is not None:
            own.append(str(connection.base_url))
        wanted = _origin_of(origin)
        return wanted is not None and any(_origin_of(url) == wanted for url in own)


def protected_resource_metadata(ctx: AppContext) -> Any:
    async def endpoint(request: Request) -> Response:
        body: dict[str, Any] = {
            "resource": f"{ctx.base_url(request)}/mcp",
            "bearer_methods_supported": ["header"],
            "resource_name": "todo-mcp",
        }
        # Only a server a host can sign in with: in shared-secret mode the host is told of none
        # (naming Better Auth's base URL, which is no authorization server, was a dead end),
        # nor without PUBLIC_URL, where /mcp refuses every OAuth access token (their audience
        # is checked against it alone): a host would sign in only to be refused.
        issuer = ctx.settings.authorization_server
        if issuer is not None and ctx.settings.public_url:
            body["authorization_servers"] = [issuer]
        return JSONResponse(body)

    return endpoint


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None if not a URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(problem_body(status, detail)),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )
