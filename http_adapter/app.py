"""`build_app`: the Starlette application behind `todo-api`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from http_adapter.auth import TokenVerifier, signing_secret
from http_adapter.chat_routes import chat_routes
from http_adapter.context import AppContext
from http_adapter.dispatch import ToolDispatcher
from http_adapter.docs import docs_routes, home_page, wants_html
from http_adapter.mcp_http import METADATA_PATH, McpGuard, protected_resource_metadata
from http_adapter.openapi import build_openapi
from http_adapter.problems import HTTPProblem, problem_response
from http_adapter.rate_limit import RateLimiter
from http_adapter.settings import ApiSettings
from http_adapter.task_routes import task_routes
from mcp_server.server import build_server
from mcp_server.version import package_version
from storage.conversations import ConversationRepository
from storage.database import Database
from storage.errors import StorageError
from storage.migrate import migrate
from storage.tasks import TaskRepository

if TYPE_CHECKING:
    from agent.chat import ChatAgent

log = logging.getLogger(__name__)

ALLOWED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Accept",
    "Last-Event-ID",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
]
EXPOSED_HEADERS = ["Location", "ETag", "X-Total-Count", "Retry-After", "Mcp-Session-Id"]


def build_app(settings: ApiSettings) -> Starlette:
    db = Database(settings.resolved_database_url())
    repository = TaskRepository(db, quota=settings.task_quota)
    # The HTTP-facing server has no stdio user: every call is bound to a verified token.
    server = build_server(settings.model_copy(update={"user_id": None}), repository=repository)
    mcp_app = server.http_app(path="/mcp")
    conversations = ConversationRepository(db)
    ctx = AppContext(
        settings=settings,
        db=db,
        verifier=TokenVerifier.from_settings(settings, signing_secret(settings)),
        dispatcher=ToolDispatcher(server),
    )
    agent = _chat_agent(settings, ctx.dispatcher, conversations)
    limiter = RateLimiter(settings.chat_rate_limit)
    version = package_version()
    openapi = build_openapi(version)

    async def root(request: Request) -> Response:
        # A person who opens the server in a browser learns where the docs are.
        if wants_html(request):
            return home_page()
        return JSONResponse(
            {"message": "todo-mcp: a per-user task store", "version": version},
            headers={"Vary": "Accept"},
        )

    async def health(_request: Request) -> Response:
        try:
            await db.ping()
        except StorageError:
            # `SELECT 1` failing for any reason means the database cannot serve us.
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(openapi)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            await migrate(db)
            async with mcp_app.lifespan(mcp_app):
                # Everything imported and built so far lives as long as the process: moved out
                # of the collector's sight, it stops making every full collection long.
                gc.collect()
                gc.freeze()
                yield
        finally:
            if agent is not None:
                await agent.aclose()
            await db.dispose()

    routes = [
        Route("/", root, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *docs_routes(),
        Route(METADATA_PATH, protected_resource_metadata(ctx), methods=["GET"]),
        *task_routes(ctx),
        *chat_routes(ctx, conversations, agent, limiter),
        Route("/mcp", McpGuard(mcp_app, ctx)),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPProblem: _on_problem,
            HTTPException: _on_http_exception,
            Exception: _on_crash,
        },
    )
    app.state.ctx = ctx
    return app


def _chat_agent(
    settings: ApiSettings, dispatcher: ToolDispatcher, conversations: ConversationRepository
) -> ChatAgent | None:
    """The Gemini agent, when a key is configured (the SDK is imported only then)."""
    if not settings.gemini_api_key:
        log.info("chat is off: GEMINI_API_KEY is not set")
        return None
    from google import genai
    from google.genai import types

    from agent.chat import ChatAgent

    # The SDK takes its timeout in milliseconds; past it the turn answers 504.
    timeout_ms = max(1, round(settings.gemini_timeout_s * 1000))
    client = genai.Client(
        api_key=settings.gemini_api_key,
        http_options=types.HttpOptions(base_url=settings.gemini_base_url, timeout=timeout_ms),
    )
    return ChatAgent(
        client=client, model=settings.gemini_model, tools=dispatcher, conversations=conversations
    )


async def _on_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc)


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    return problem_response(HTTPProblem(exc.status_code, str(exc.detail), headers=headers))


async def _on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(HTTPProblem(500, "Something went wrong on our side."))
