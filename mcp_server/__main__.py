"""`todo-mcp`: the MCP server on stdio (default) or Streamable HTTP.

A stdio host spawns this on every launch, so the heavy imports wait until the arguments are
known to be good, and stdout is left to JSON-RPC: every log line goes to stderr.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import sys

from mcp_server.version import VersionAction


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="todo-mcp", description="The todo-mcp MCP server (stdio by default)."
    )
    parser.add_argument(
        "--transport", choices=["stdio", "http"], default="stdio", help="default: stdio"
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP only; default 127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="HTTP only; default 8000")
    parser.add_argument(
        "--user",
        help="the user whose tasks a stdio server serves (default: $TODO_USER_ID)",
    )
    parser.add_argument("--version", action=VersionAction)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    # py-key-value (fastmcp's session-state store, imported on the first tool call) wraps its
    # own modules in beartype checks that only ever warn; compiling them costs ~50 ms per start.
    os.environ.setdefault("PY_KEY_VALUE_DISABLE_BEARTYPE", "true")
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.transport == "http":
        # Streamable HTTP needs bearer-token auth, Host/Origin checks and resource metadata:
        # the HTTP app provides them, so this serves that same app (with /mcp among its routes).
        from http_adapter.__main__ import serve

        serve(host=args.host, port=args.port)
        return
    # Start-up creates a few hundred thousand objects (the framework, SQLAlchemy, the models)
    # that live as long as the process; the cyclic collector would walk them over and over
    # while they load, about a tenth of the start-up time. It runs again once they are built.
    gc.disable()
    # Settings are light to import (no fastmcp) and, unlike os.environ, include `.env`.
    from mcp_server.settings import ServerSettings

    settings = ServerSettings()
    user = (args.user or settings.user_id or "").strip()
    if not user:
        sys.exit(
            "todo-mcp: no user: pass --user ID or set TODO_USER_ID (the stdio server acts for "
            "exactly one user)"
        )
    from storage.models import MAX_KEY

    if len(user) > MAX_KEY:
        sys.exit(f"todo-mcp: the user id is longer than {MAX_KEY} characters")

    import anyio

    from mcp_server.server import build_server
    from mcp_server.stdio import serve_stdio
    from storage.database import DatabaseURLError, resolve_url
    from storage.errors import StorageError

    try:
        settings = settings.model_copy(update={"user_id": user})
        # The lifespan opens the database only once the server runs; check the URL now so a
        # bad one is a one-line message rather than a traceback from inside the lifespan.
        resolve_url(settings.resolved_database_url())
        server = build_server(settings)
    except DatabaseURLError as exc:
        sys.exit(f"todo-mcp: {exc}")
    from mcp_server.startup import startup_line

    line = startup_line("todo-mcp", settings, auth="none (stdio acts for its one user)", user=user)
    print(line, file=sys.stderr, flush=True)
    # What start-up built is kept out of later collections, so they stay short.
    gc.freeze()
    gc.enable()
    try:
        # As FastMCP.run does, on uvloop (a dependency outside Windows): every call crosses
        # threads several times (stdin, stdout, SQLite), and uvloop's wake-ups are cheaper.
        anyio.run(
            functools.partial(serve_stdio, server),
            backend_options={"use_uvloop": sys.platform != "win32"},
        )
    except StorageError as exc:
        # Raised by the lifespan when the database cannot be opened or migrated at start.
        sys.exit(f"todo-mcp: cannot open the task store: {exc}")


if __name__ == "__main__":
    main()
