"""`todo-api`: serve the HTTP API, sign a development token, or migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette

from http_adapter.settings import ApiSettings
from mcp_server.version import VersionAction
from storage.database import DatabaseURLError


def _fail(message: str) -> None:
    sys.exit(f"todo-api: {message}")


def load_settings() -> ApiSettings:
    """Settings from the environment and .env; every problem on a line of its own."""
    try:
        return ApiSettings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            # A check across settings has no location: its message names the settings itself.
            where = "".join(f"{part}: " for part in error["loc"][:1])
            lines.append(f"todo-api: {where}{error['msg'].removeprefix('Value error, ')}")
        sys.exit("\n".join(lines))


def create_app() -> Starlette:
    """The app from the environment: called directly, or as uvicorn's factory in each worker
    of --workers > 1."""
    from http_adapter.app import build_app
    from http_adapter.log_config import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format)
    try:
        return build_app(settings)
    except DatabaseURLError as exc:
        _fail(str(exc))
        raise


def serve(host: str, port: int | None, workers: int = 1) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully and exit 0."""
    from http_adapter.log_config import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format)
    announce(settings)
    port = settings.port if port is None else port
    _check_port_free(host, port)
    _prepare_database(settings)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        # X-Forwarded-Proto/-For only from the proxies named; by default from no one (the
        # scheme a client claims would otherwise reach every URL the server writes).
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        # Logging is configured above; uvicorn's access line would repeat the request log.
        "log_config": None,
        "access_log": False,
        "timeout_keep_alive": settings.http_keep_alive_s,
        "limit_concurrency": settings.http_max_concurrency,
        # The grace period, then a little for the streams it ends to say so and close.
        "timeout_graceful_shutdown": settings.shutdown_grace_s + _STREAM_CLOSE_S,
        "header_timeout_s": settings.http_header_timeout_s,
        "body_timeout_s": settings.http_body_timeout_s,
        "max_header_bytes": settings.http_max_header_bytes,
        "shutdown_grace_s": settings.shutdown_grace_s,
        "write_timeout_s": settings.http_write_timeout_s,
        "connection_wait_s": settings.http_connection_wait_s,
        # uvicorn's 5 s for a worker to answer its supervisor's ping is less than a cold start
        # takes on a busy machine: workers were killed before they started, again and again.
        "timeout_worker_healthcheck": _WORKER_HEALTHCHECK_S,
    }
    # uvicorn re-raises the signal that stopped it once it has shut down; a graceful stop is
    # a success, so that second SIGTERM ends the process with status 0.
    signal.signal(signal.SIGTERM, _exit_ok)
    with _metrics_directory(settings, workers):
        _run(options, workers)


def _run(options: dict[str, Any], workers: int) -> None:
    import uvicorn

    from http_adapter.protocol import ServerConfig

    if workers == 1:
        server = uvicorn.Server(ServerConfig(create_app(), **options))
        # Ctrl-C: uvicorn shuts down gracefully, then re-raises SIGINT as KeyboardInterrupt.
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            _fail("the server did not start (see the lines above)")
        return
    from http_adapter.workers import Supervisor

    config = ServerConfig(
        "http_adapter.__main__:create_app", factory=True, workers=workers, **options
    )
    Supervisor(config, sockets=[config.bind_socket()]).run()


def announce(settings: ApiSettings) -> None:
    """The start-up line: version, database and auth mode, before anything can go wrong."""
    from http_adapter.auth import describe_auth
    from mcp_server.startup import startup_line

    line = startup_line("todo-api", settings, auth=describe_auth(settings))
    logging.getLogger("todo_api").info("%s", line)


# Seconds a stream ended by the shutdown has to send its last event before it is cut off.
_STREAM_CLOSE_S = 5.0
_WORKER_HEALTHCHECK_S = 30.0


def _exit_ok(_signal: int, _frame: FrameType | None) -> None:
    sys.exit(0)


def _check_port_free(host: str, port: int) -> None:
    """Fail at once, before the database is waited for and migrated, when another process
    listens on the port: uvicorn would say so only at the end, among its shutdown lines."""
    import errno
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # uvicorn reports a host it cannot resolve in its own words
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port whose last connections are in TIME_WAIT is free for it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(f"port {port} on {host} is in use; choose another: --port N or PORT=N")


def _prepare_database(settings: ApiSettings) -> None:
    """Wait for the database (`DATABASE_WAIT_S`) and migrate it before serving, so that an
    unreachable one is a few log lines and one reason, never a traceback from a worker."""
    from storage.errors import StorageError

    try:
        asyncio.run(_in_service(settings, wait_s=settings.database_wait_s))
    except DatabaseURLError as exc:
        _fail(str(exc))
    except StorageError as exc:
        _fail(f"cannot start: {exc}")


async def _in_service(settings: ApiSettings, *, wait_s: float | None) -> None:
    """Open the configured database, bring its schema up to date, and close it."""
    from storage.startup import open_in_service

    url = settings.resolved_database_url()
    async with open_in_service(url, pooler=settings.database_pooler, wait_s=wait_s):
        pass


@contextlib.contextmanager
def _metrics_directory(settings: ApiSettings, workers: int) -> Iterator[None]:
    """Workers share their metrics through files in one directory (prometheus-client's
    multiprocess mode); a temporary one unless PROMETHEUS_MULTIPROC_DIR names one, which is
    emptied first: the counts of an earlier run are not this one's."""
    from http_adapter.metrics import MULTIPROCESS_DIR_ENV, clear_multiprocess_directory

    if not settings.metrics_enabled:
        yield
        return
    given = os.environ.get(MULTIPROCESS_DIR_ENV)
    if given:
        clear_multiprocess_directory(Path(given))
        yield
        return
    if workers == 1:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="todo-api-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR_ENV]


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
    from http_adapter.log_config import configure_logging
    from storage.errors import StorageError

    settings = load_settings()
    configure_logging(settings.log_format)
    try:
        asyncio.run(_in_service(settings, wait_s=None))
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
    parser.add_argument("--port", type=int, help="default $PORT, else 8000")
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
