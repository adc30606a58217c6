"""`build_app`: the Starlette application behind `todo-api`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from http_adapter import route_table
from http_adapter.ai_sdk_stream import ai_sdk_handlers
from http_adapter.auth import TokenVerifier, signing_secret
from http_adapter.change_routes import change_handlers
from http_adapter.chat_routes import chat_handlers
from http_adapter.chat_turns import TurnStarter
from http_adapter.chatkit_route import chatkit_handlers
from http_adapter.context import AppContext
from http_adapter.docs import docs_routes, home_page, wants_html
from http_adapter.hosts import HostGuard
from http_adapter.list_routes import list_handlers
from http_adapter.mcp_http import METADATA_PATH, McpGuard, protected_resource_metadata
from http_adapter.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from http_adapter.metrics import Metrics, ToolCallMetrics
from http_adapter.middleware import REQUEST_ID_HEADER, RequestMiddleware, current_request_id
from http_adapter.openapi import build_openapi
from http_adapter.problems import HTTPProblem, problem_response
from http_adapter.schemas import Health, Liveness, Root
from http_adapter.security_headers import SecurityHeaders, security_headers
from http_adapter.settings import ApiSettings
from http_adapter.shutdown import SHUTDOWN_STATE, TURN_RECORD_WAIT_S
from http_adapter.slashes import redirecting_slashes
from http_adapter.task_routes import task_handlers
from mcp_server.dispatch import ToolDispatcher
from mcp_server.server import build_server
from mcp_server.version import package_version
from storage.change_feed import ChangeFeed
from storage.changes import ChangeLog
from storage.conversations import ConversationRepository
from storage.database import Database
from storage.errors import StorageError
from storage.limits import RateLimits
from storage.startup import in_service

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
    "Mcp-Protocol-Version",
    REQUEST_ID_HEADER,
    "Last-Event-ID",
]
EXPOSED_HEADERS = [
    "Location",
    "ETag",
    "X-Total-Count",
    "Retry-After",
    # Names the next occurrence a completed recurring task created.
    "Link",
    REQUEST_ID_HEADER,
    # MCP hosts in a browser read resource_metadata from it to find where to sign in.
    "WWW-Authenticate",
    "X-Changes-Next",
]


def build_app(settings: ApiSettings) -> Starlette:
    db = Database(settings.resolved_database_url(), pooler=settings.database_pooler)
    # The HTTP-facing server has no stdio user: every call is bound to a verified token.
    server = build_server(settings.model_copy(update={"user_id": None}), db=db)
    # Stateless: no session lives in this process, so any request of a session may reach any
    # process. The tools make no server-to-client requests, so plain JSON answers carry all.
    mcp_app = server.http_app(path="/mcp", stateless_http=True, json_response=True)
    conversations = ConversationRepository(db)
    changes = ChangeLog(db)
    feed = _change_feed(settings, db, changes)
    metrics = Metrics(db.connections_in_use) if settings.metrics_enabled else None
    if metrics is not None:
        server.add_middleware(ToolCallMetrics(metrics))
    ctx = AppContext(
        settings=settings,
        db=db,
        verifier=TokenVerifier.from_settings(settings, signing_secret(settings)),
        dispatcher=ToolDispatcher(server, metrics.observe_tool_call if metrics else None),
        changes=changes,
    )
    agent = _chat_agent(settings, ctx.dispatcher, conversations, metrics)
    if settings.authorization_server is not None and not settings.public_url:
        log.warning(
            "OAuth access tokens are off at /mcp: PUBLIC_URL is not set, and their audience "
            "is never taken from a request's Host (other tokens are accepted as usual)"
        )
    version = package_version()
    openapi = build_openapi(version)

    async def root(request: Request) -> Response:
        # A person who opens the server in a browser learns where the docs are.
        if wants_html(request):
            return home_page()
        answer = Root(message="todo-mcp: a per-user task store", version=version)
        return JSONResponse(answer.model_dump(), headers={"Vary": "Accept"})

    async def health(_request: Request) -> Response:
        try:
            await db.ping()
        except StorageError:
            # `SELECT 1` failing for any reason means the database cannot serve us.
            down = Health(status="unavailable", database="unreachable")
            return JSONResponse(down.model_dump(), 503)
        return JSONResponse(Health(status="ok", database="ok").model_dump())

    async def livez(_request: Request) -> Response:
        # Liveness: the process answers. It never asks the database, so an orchestrator does
        # not restart every replica while the database (which /health reports) is away.
        return JSONResponse(Liveness(status="ok").model_dump())

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(openapi)

    async def metrics_text(_request: Request) -> Response:
        assert metrics is not None
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        try:
            async with in_service(db):
                feed.start()
                try:
                    async with mcp_app.lifespan(mcp_app):
                        if metrics is not None:
                            metrics.know_tools(tool.name for tool in await ctx.dispatcher.tools())
                        # Everything imported and built so far lives as long as the process:
                        # moved out of the collector's sight, it stops making every full
                        # collection long.
                        gc.collect()
                        gc.freeze()
                        # Shared with the server, which starts the grace period on SIGTERM.
                        yield {SHUTDOWN_STATE: ctx.shutdown}
                finally:
                    # Before the pool closes: the feed's LISTEN connection and prune loop.
                    await feed.stop()
        finally:
            if agent is not None:
                # Turns cancelled at the end of the grace period are still storing their record.
                await ctx.shutdown.turns_done(TURN_RECORD_WAIT_S)
                await agent.aclose()

    # /chat and the chat UI protocols start their turns alike, with the same limits.
    starter = TurnStarter(ctx, conversations, agent, RateLimits(db))
    routes = [
        *route_table.starlette_routes(
            {
                route_table.ROOT: root,
                route_table.HEALTH: health,
                route_table.LIVEZ: livez,
                route_table.OPENAPI: openapi_json,
                **task_handlers(ctx),
                **list_handlers(ctx),
                **chat_handlers(starter),
                **change_handlers(ctx, changes, feed),
                **chatkit_handlers(starter),
                **ai_sdk_handlers(starter),
            }
        ),
        # Not REST, so not in the route table nor the document.
        *docs_routes(),
        Route(METADATA_PATH, protected_resource_metadata(ctx), methods=["GET"]),
        Route("/mcp", McpGuard(mcp_app, ctx)),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", metrics_text, methods=["GET"]))
    middleware = [
        # Outermost: every answer (preflights and errors too) gets its request id and log line.
        Middleware(RequestMiddleware, metrics=metrics),
        Middleware(SecurityHeaders),
        Middleware(
            HostGuard,
            allowed=settings.host_allow_list(),
            public_url=settings.public_url,
            guarded_paths=("/mcp", METADATA_PATH),
        ),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            HTTPProblem: _on_problem,
            HTTPException: _on_http_exception,
            ClientDisconnect: _on_client_gone,
            Exception: _on_crash,
        },
    )
    app.router.redirect_slashes = False
    app.router.default = redirecting_slashes(app.router, ctx.base_url)
    app.state.ctx = ctx
    return app


def _change_feed(settings: ApiSettings, db: Database, changes: ChangeLog) -> ChangeFeed:
    return ChangeFeed(
        db,
        changes,
        listen_url=settings.database_listen_url,
        retention=timedelta(days=settings.changes_retention_days),
    )


def _chat_agent(
    settings: ApiSettings,
    dispatcher: ToolDispatcher,
    conversations: ConversationRepository,
    metrics: Metrics | None,
) -> ChatAgent | None:
    """The Gemini agent, when a key is configured (the SDK is imported only then)."""
    if not settings.gemini_api_key:
        log.info("chat is off: GEMINI_API_KEY is not set")
        return None
    from agent.chat import ChatAgent
    from agent.client import gemini_client

    client = gemini_client(
        settings.gemini_api_key,
        base_url=settings.gemini_base_url,
        timeout_s=settings.gemini_timeout_s,
        retry_attempts=settings.gemini_retry_attempts,
        retry_initial_delay_s=settings.gemini_retry_initial_delay_s,
    )
    return ChatAgent(
        client=client,
        model=settings.gemini_model,
        tools=dispatcher,
        conversations=conversations,
        history_tokens=settings.chat_history_tokens,
        turn_deadline_s=settings.chat_turn_deadline_s,
        observer=metrics.observe_model_call if metrics else None,
    )


async def _on_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc)


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    return problem_response(HTTPProblem(exc.status_code, str(exc.detail), headers=headers))


async def _on_client_gone(_request: Request, _exc: Exception) -> Response:
    # The client left (or was cut off for sending its body too slowly): nobody reads this.
    return problem_response(HTTPProblem(408, "The request body did not arrive."))


async def _on_crash(request: Request, exc: Exception) -> Response:
    # The path is the client's: cut short, so that one request cannot flood the log.
    path = request.url.path[:200]
    log.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
    # Answered outside every middleware, so the request id and security headers are added here.
    headers = security_headers(request.scope)
    request_id = current_request_id()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return problem_response(HTTPProblem(500, "Something went wrong on our side.", headers=headers))
