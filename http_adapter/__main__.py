"""`todo-api`: serve the HTTP API, sign a development token, or migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette

from http_adapter.settings import ApiSettings
from mcp_server.version import VersionAction
from storage.database import DatabaseURLError, resolve_url


def _fail(message: str) -> None:
    sys.exit(f"todo-api: {message}")


def load_settings() -> ApiSettings:
    """Settings from the environment and .env; every problem on a line of its own."""
    try:
        return ApiSettings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "configuration"
            lines.append(f"todo-api: {where}: {error['msg'].removeprefix('Value error, ')}")
        sys.exit("\n".join(lines))


def create_app() -> Starlette:
    """The app from the environment: called directly, or as uvicorn's factory for
    --workers > 1."""
    from http_adapter.app import build_app

    try:
        return build_app(load_settings())
    except DatabaseURLError as exc:
        _fail(str(exc))
        raise


def serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "proxy_headers": True,
        "server_header": False,
    }
    if workers == 1:
        uvicorn.run(create_app(), **options)
        return
    # Each worker builds its own app from the environment; check the configuration here first
    # so that a mistake is one clear line, not one traceback per worker.
    settings = load_settings()
    try:
        resolve_url(settings.resolved_database_url())
    except DatabaseURLError as exc:
        _fail(str(exc))
    uvicorn.run("http_adapter.__main__:create_app", factory=True, workers=workers, **options)


def _token(args: argparse.Namespace) -> None:
    from http_adapter.auth import issue_token, signing_secret

    settings = load_settings()
    secret = signing_secret(settings)
    if secret is None:
        _fail("no secret to sign with: BETTER_AUTH_URL is set but BETTER_AUTH_SECRET is not")
        return
    if args.ttl < 1:
        _fail("--ttl must be a positive number of seconds")
    print(issue_token(settings, secret, args.user_id, args.ttl))


def _migrate(_args: argparse.Namespace) -> None:
    from storage.database import Database
    from storage.errors import StorageError
    from storage.migrate import migrate

    settings = load_settings()

    async def run() -> None:
        db = Database(settings.resolved_database_url())
        try:
            await migrate(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except DatabaseURLError as exc:
        _fail(str(exc))
    except StorageError as exc:
        _fail(f"migration failed: {exc}")
    print("database schema is up to date", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="todo-api", description="todo-mcp's HTTP API: REST, chat and MCP at /mcp."
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    parser.add_argument("--workers", type=int, default=1, help="worker processes; default 1")
    parser.add_argument("--version", action=VersionAction)
    parser.set_defaults(run=lambda args: serve(args.host, args.port, args.workers))
    commands = parser.add_subparsers(title="commands")
    token = commands.add_parser("token", help="print a signed HS256 token for a user")
    token.add_argument("user_id")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds; default 3600")
    token.set_defaults(run=_token)
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    args.run(args)


if __name__ == "__main__":
    main()
