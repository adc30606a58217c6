"""Prometheus metrics of `todo-api` (served at /metrics when `METRICS_ENABLED` is on).

Each app has a registry of its own. With `--workers N` the workers write their values to
`PROMETHEUS_MULTIPROC_DIR` (`todo-api` makes one when it is not set) and whichever worker is
scraped reports the sum of all of them; several replicas are scraped one by one as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
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
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from mcp_server.dispatch import observed

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds: a task call takes about a millisecond, a chat turn or a model call several seconds.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_MODEL_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)

# Every label value comes from a fixed set: a value a client chooses (a method, a tool name sent
# to /mcp or made up by the model) would add series for good, and a long one bytes to every
# scrape. What is not known is counted as `other`.
OTHER = "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
    def __init__(
        self, pool_in_use: Callable[[], int] | None = None, tool_names: Iterable[str] = ()
    ) -> None:
        self.registry = CollectorRegistry()
        self._pool_in_use = pool_in_use
        self._tool_names = frozenset(tool_names)
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

    def know_tools(self, names: Iterable[str]) -> None:
        """The tool names counted under their own name (the server's tools)."""
        self._tool_names = frozenset(names)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # `route` is a route template or "unmatched", never the raw path.
        labels = (method if method in _METHODS else OTHER, route, str(status))
        self.requests.labels(*labels).inc()
        self.request_seconds.labels(*labels).observe(seconds)
        self._sample_pool()

    def observe_tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        # `outcome` is "ok", "error" or a tool error's kind: a fixed set.
        if tool not in self._tool_names:
            tool = OTHER
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


def clear_multiprocess_directory(directory: Path) -> None:
    """Remove the files of an earlier run: prometheus-client would add their counts (and the
    live gauges of processes long gone) to this run's."""
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


def forget_worker(pid: int) -> None:
    """A worker has exited: its live gauges (connections in use) stop counting; its counters
    stay, as totals do."""
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


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
