"""Prometheus metrics of `todo-api` (served at /metrics when `METRICS_ENABLED` is on).

Each app has a registry of its own. With `--workers N` the workers write their values to
`PROMETHEUS_MULTIPROC_DIR` (`todo-api` makes one when it is not set) and whichever worker is
scraped reports the sum of all of them; several replicas are scraped one by one as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult
from mcp import types as mt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from mcp_server.dispatch import observed

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds: a task call takes about a millisecond, a chat turn or a model call several seconds.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_MODEL_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class ModelCallLike(Protocol):
    """What a model call reports (the agent's `ModelCall`)."""

    @property
    def outcome(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...


class Metrics:
    def __init__(self, pool_in_use: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._pool_in_use = pool_in_use
        registry = self.registry
        self.requests = Counter(
            "todo_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "todo_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of its body), by route and status.",
            ["method", "route", "status"],
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        self.tool_calls = Counter(
            "todo_tool_calls",
            "MCP tool calls (REST, chat and /mcp), by tool and outcome (ok or the error kind).",
            ["tool", "outcome"],
            registry=registry,
        )
        self.tool_seconds = Histogram(
            "todo_tool_call_duration_seconds",
            "Time an MCP tool call takes, by tool.",
            ["tool"],
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        self.model_calls = Counter(
            "todo_model_calls",
            "Calls to the chat model, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.model_seconds = Histogram(
            "todo_model_call_duration_seconds",
            "Time a call to the chat model takes, by outcome.",
            ["outcome"],
            buckets=_MODEL_BUCKETS,
            registry=registry,
        )
        self.model_tokens = Counter(
            "todo_model_tokens",
            "Tokens sent to (input) and received from (output) the chat model.",
            ["direction"],
            registry=registry,
        )
        self.pool_in_use = Gauge(
            "todo_db_pool_connections_in_use",
            "Database connections checked out of the pools right now.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.request_seconds.labels(*labels).observe(seconds)
        self._sample_pool()

    def observe_tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_seconds.labels(tool).observe(seconds)

    def observe_model_call(self, call: ModelCallLike) -> None:
        self.model_calls.labels(call.outcome).inc()
        self.model_seconds.labels(call.outcome).observe(call.seconds)
        self.model_tokens.labels("input").inc(call.input_tokens)
        self.model_tokens.labels("output").inc(call.output_tokens)

    def render(self) -> bytes:
        """The Prometheus text of this process, or of every worker in multiprocess mode."""
        self._sample_pool()
        if os.environ.get(MULTIPROCESS_DIR_ENV):
            combined = CollectorRegistry()
            MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            return generate_latest(combined)
        return generate_latest(self.registry)

    def _sample_pool(self) -> None:
        # Sampled when a request ends and at each scrape, so that in multiprocess mode every
        # worker's figure stays close to current.
        if self._pool_in_use is not None:
            self.pool_in_use.set(self._pool_in_use())


class ToolCallMetrics(Middleware):
    """Counts the tool calls that arrive over /mcp (REST and chat calls are counted by the
    dispatcher, which does not pass through the MCP middleware)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        with observed(context.message.name, self._metrics.observe_tool_call):
            return await call_next(context)
