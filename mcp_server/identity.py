"""Who a tool call acts for: decided by the transport, never by the call's arguments.

In order: a binding set in-process by an embedding app (the REST adapter, the chat agent); the
verified bearer token of an HTTP request (its `sub`); the user a stdio server was started for.
A request's `_meta` is never consulted: any client can write it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from fastmcp.server.dependencies import get_access_token

from mcp_server.errors import TaskToolError

_bound_user: ContextVar[str | None] = ContextVar("todo_mcp_bound_user", default=None)


@contextmanager
def acting_as(user_id: str) -> Iterator[None]:
    """Run the tool calls made inside this block as `user_id` (for in-process callers)."""
    token = _bound_user.set(user_id)
    try:
        yield
    finally:
        _bound_user.reset(token)


def current_user(stdio_user: str | None) -> str:
    bound = _bound_user.get()
    if bound is not None:
        return bound
    access_token = get_access_token()
    if access_token is not None:
        subject = access_token.claims.get("sub")
        if isinstance(subject, str) and subject:
            return subject
    if stdio_user is not None:
        return stdio_user
    raise TaskToolError("invalid_arguments", "No user is bound to this connection.")
