"""What every route needs, built once in the app's lifespan: settings, the token verifier, the
tool dispatcher and the database handle for health checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from http_adapter.auth import AuthError, Principal, TokenVerifier
from http_adapter.middleware import note_user
from http_adapter.problems import STATUS_OF_KIND, HTTPProblem
from http_adapter.settings import ApiSettings
from http_adapter.shutdown import Shutdown
from mcp_server.dispatch import ToolDispatcher
from mcp_server.errors import TaskToolError
from storage.database import Database

REST_DETAIL = {
    "not_found": "Task {task_id} not found.",
    "version_mismatch": "The task has changed since the ETag given in If-Match; nothing changed.",
    "idempotency_key_reused": "This Idempotency-Key was already used with a different body.",
    "idempotency_key_in_flight": "A request with this Idempotency-Key is still in progress.",
}

# The same for the list routes' calls (they name a list_id and no task_id).
LIST_DETAIL = {
    "not_found": "List {list_id} not found.",
    "version_mismatch": "The list has changed since the ETag given in If-Match; nothing changed.",
}

# Where the fault lies, for the kinds answered 422 that are not about the tool's arguments.
REST_ERRORS = {
    "idempotency_key_reused": [
        {"loc": ["header", "Idempotency-Key"], "msg": "already used with a different body"}
    ],
}


def bearer_challenge(error: AuthError, *extra: str) -> str:
    """The `WWW-Authenticate` value for a 401 (RFC 6750)."""
    parts = ['Bearer realm="todo-mcp"', *extra]
    if error.error is not None:
        parts.append(f'error="{error.error}"')
    return ", ".join(parts)


@dataclass
class AppContext:
    settings: ApiSettings
    db: Database
    verifier: TokenVerifier
    dispatcher: ToolDispatcher
    shutdown: Shutdown = field(default_factory=Shutdown)

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
        return principal.user_id

    async def call_tool(self, user: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.dispatcher.call(user, name, arguments)
        except TaskToolError as exc:
            status = STATUS_OF_KIND[exc.kind]
            errors = exc.details if exc.kind == "invalid_arguments" else REST_ERRORS.get(exc.kind)
            # The tool's text advises a model which tool to call next; an HTTP client gets
            # the plain fact instead.
            about_list = "list_id" in arguments and "task_id" not in arguments
            template = (LIST_DETAIL if about_list else REST_DETAIL).get(exc.kind)
            detail = template.format_map(arguments) if template else str(exc)
            raise HTTPProblem(status, detail, errors=errors) from None

    def base_url(self, connection: HTTPConnection) -> str:
        if self.settings.public_url:
            return self.settings.public_url
        return str(connection.base_url).rstrip("/")
