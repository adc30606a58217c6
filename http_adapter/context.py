"""What every route needs, built once in the app's lifespan: settings, the token verifier, the
tool dispatcher and the database handle for health checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from http_adapter.auth import AuthError, Principal, TokenVerifier
from http_adapter.middleware import note_user
from http_adapter.problems import HTTPProblem, tool_problem
from http_adapter.settings import ApiSettings
from http_adapter.shutdown import Shutdown
from mcp_server.dispatch import ToolDispatcher
from mcp_server.errors import TaskToolError
from storage.changes import ChangeLog
from storage.database import Database


def bearer_challenge(error: AuthError, *extra: str) -> str:
    """The `WWW-Authenticate` value for a 401 (RFC 6750)."""
    parts = ['Bearer realm="todo-mcp"', *extra]
    if error.error is not None:
        parts.append(f'error="{error.error}"')
    return ", ".join(parts)


# Path segments that URL resolution removes or walks up from (RFC 3986, 5.2.4).
_DOT_SEGMENTS = frozenset({".", ".."})


@dataclass
class AppContext:
    settings: ApiSettings
    db: Database
    verifier: TokenVerifier
    dispatcher: ToolDispatcher
    shutdown: Shutdown = field(default_factory=Shutdown)
    # The change log's head goes out with every task list (`X-Changes-Next`).
    changes: ChangeLog | None = None

    async def authenticate(self, connection: HTTPConnection) -> Principal:
        try:
            principal = await self.verifier.verify_header(connection.headers.get("authorization"))
        except AuthError as exc:
            headers = {"WWW-Authenticate": bearer_challenge(exc)} if exc.status == 401 else {}
            raise HTTPProblem(exc.status, exc.detail, headers=headers) from None
        note_user(principal.user_id)
        return principal

    async def authorize(self, connection: HTTPConnection) -> str:
        """The token's user, who must be the `{user_id}` of the path."""
        principal = await self.authenticate(connection)
        if connection.path_params.get("user_id") != principal.user_id:
            raise HTTPProblem(403, "The token does not belong to this user.")
        if principal.user_id in _DOT_SEGMENTS:
            # The path matched, but every URL the answer would name (`Location`, links) is one
            # that clients resolve elsewhere: refused before anything is read or written.
            raise HTTPProblem(
                404, "A user id of '.' or '..' cannot be used over REST; use /mcp instead."
            )
        return principal.user_id

    async def call_tool(self, user: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.dispatcher.call(user, name, arguments)
        except TaskToolError as exc:
            raise tool_problem(exc, arguments) from None

    def base_url(self, connection: HTTPConnection) -> str:
        if self.settings.public_url:
            return self.settings.public_url
        return str(connection.base_url).rstrip("/")
