"""What todo-api's HTTP edge costs a request, in-process: CPU time per request of `GET /livez`
(a route that does nothing) through uvicorn's httptools protocol and the app, without sockets.

The protocol is fed the request's bytes and writes its answer into a transport that keeps
nothing, on uvloop, as `todo-api` runs; the time is the process's CPU time (`process_time`), so
other work on the machine moves it far less than it moves requests per second. Variants, each
the full edge less one part:

- todo-api: `LimitedHttpProtocol` (deadlines, one write per answer) and every middleware, the
  access log written (to /dev/null) as `LOG_FORMAT=text` writes it;
- without each middleware in turn (request id and access log, security headers, host guard,
  CORS), and with uvicorn's own protocol;
- bare: uvicorn's protocol and a Starlette app with the one route, no middleware, no log.

    .venv/bin/python bench/edge.py [--requests 5000] [--rounds 5] [--json]

The figure of each variant is the minimum over rounds (the rounds interleave the variants).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from http_adapter.app import build_app
from http_adapter.hosts import HostGuard
from http_adapter.log_config import configure_logging
from http_adapter.middleware import RequestMiddleware
from http_adapter.protocol import LimitedHttpProtocol, ServerConfig
from http_adapter.security_headers import SecurityHeaders
from http_adapter.settings import ApiSettings

REQUEST = (
    b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n"
    b"Accept: application/json\r\n\r\n"
)


class NullTransport(asyncio.Transport):
    """A connection whose client takes every answer at once."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def abort(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}
        return addresses.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def bare_app() -> Starlette:
    async def livez(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/livez", livez, methods=["GET"])])


def product_app(settings: ApiSettings, without: type | None) -> Starlette:
    app = build_app(settings)
    app.user_middleware = [m for m in app.user_middleware if getattr(m, "cls", None) is not without]
    return app


def config_for(app: Starlette) -> ServerConfig:
    limits: dict[str, Any] = {"write_timeout_s": 30, "connection_wait_s": 60}
    if "write_timeout_s" not in inspect.signature(ServerConfig).parameters:
        limits = {}  # an older todo-api, measured for comparison
    config = ServerConfig(
        app,
        header_timeout_s=10,
        body_timeout_s=30,
        max_header_bytes=64 * 1024,
        shutdown_grace_s=20,
        **limits,
        proxy_headers=True,
        server_header=False,
        log_config=None,
        access_log=False,
        timeout_keep_alive=5,
        limit_concurrency=1000,
    )
    config.load()
    return config


async def per_request_us(
    config: ServerConfig, protocol_class: type[HttpToolsProtocol], requests: int
) -> float:
    """CPU microseconds per request over `requests` requests on one keep-alive connection."""
    state = ServerState()
    protocol = protocol_class(config, state, {})
    transport = NullTransport()
    protocol.connection_made(transport)

    async def serve(count: int) -> None:
        for _ in range(count):
            protocol.data_received(REQUEST)
            while state.tasks:
                await asyncio.gather(*state.tasks)

    await serve(200)  # warm-up
    started = time.process_time()
    await serve(requests)
    spent = time.process_time() - started
    protocol.connection_lost(None)
    return spent * 1e6 / requests


@contextlib.contextmanager
def access_log_to_devnull() -> Iterator[None]:
    """The access log configured as `todo-api` does, its stderr going nowhere."""
    saved = sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stderr = sink
        try:
            configure_logging("text")
            yield
        finally:
            sys.stderr = saved
            logging.getLogger().handlers.clear()


def variants(settings: ApiSettings) -> dict[str, Callable[[], tuple[ServerConfig, type[Any]]]]:
    def product(without: type | None, protocol: type[HttpToolsProtocol]) -> Any:
        return lambda: (config_for(product_app(settings, without)), protocol)

    return {
        "todo-api": product(None, LimitedHttpProtocol),
        "without RequestMiddleware (id, access log)": product(
            RequestMiddleware, LimitedHttpProtocol
        ),
        "without SecurityHeaders": product(SecurityHeaders, LimitedHttpProtocol),
        "without HostGuard": product(HostGuard, LimitedHttpProtocol),
        "with uvicorn's HttpToolsProtocol": product(None, HttpToolsProtocol),
        "bare: uvicorn + Starlette, one route": lambda: (
            config_for(bare_app()),
            HttpToolsProtocol,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, access_log_to_devnull():
        settings = ApiSettings(
            _env_file=None,
            DATABASE_URL=f"sqlite+aiosqlite:///{Path(scratch) / 'edge.db'}",
            TODO_DATA_DIR=scratch,
            BETTER_AUTH_SECRET="edge-bench-secret-that-is-long-enough-0123456789",
        )
        built = {name: make() for name, make in variants(settings).items()}
        # As the app's lifespan does: the start-up heap out of the collector's sight.
        gc.collect()
        gc.freeze()
        results: dict[str, list[float]] = {name: [] for name in built}

        async def measure() -> None:
            for _ in range(args.rounds):
                for name, (config, protocol) in built.items():
                    results[name].append(await per_request_us(config, protocol, args.requests))

        uvloop.run(measure())
    best = {name: round(min(values), 1) for name, values in results.items()}
    if args.json:
        print(json.dumps({"us_per_request": best, "rounds": results}, indent=2))
        return
    base = best["todo-api"]
    print(f"GET /livez in-process, CPU us per request (min of {args.rounds} x {args.requests}):")
    for name, value in best.items():
        print(f"  {value:7.1f}  {value - base:+7.1f}  {name}")


if __name__ == "__main__":
    main()
