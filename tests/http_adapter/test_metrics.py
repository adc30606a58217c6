"""Prometheus metrics at /metrics: off unless enabled, requests by route template and status,
tool calls by tool and outcome (REST, chat and /mcp), model calls, the database pool."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from http_adapter.metrics import Metrics
from tests.support.api import Api, ApiFactory, mcp_session


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_not_served_unless_enabled(api: Api) -> None:
    response = await api.client.get("/metrics")

    assert response.status_code == 404
    assert "/metrics" not in (await api.client.get("/openapi.json")).json()["paths"]


async def test_requests_are_counted_by_route_template_and_status(
    api_factory: ApiFactory,
) -> None:
    async with api_factory(METRICS_ENABLED="true") as api:
        for task_id in (1, 2, 3):
            await api.client.get(f"/api/alice/tasks/{task_id}", headers=api.auth("alice"))
        await api.client.get("/api/alice/tasks")
        response = await api.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = "/api/{user_id}/tasks/{task_id}"
    assert value(text, "todo_http_requests_total", method="GET", route=route, status="404") == 3
    assert (
        value(
            text,
            "todo_http_request_duration_seconds_count",
            method="GET",
            route=route,
            status="404",
        )
        == 3
    )
    assert (
        value(
            text,
            "todo_http_requests_total",
            method="GET",
            route="/api/{user_id}/tasks",
            status="401",
        )
        == 1
    )
    assert "alice" not in text
    assert "todo_db_pool_connections_in_use" in text


async def test_tool_calls_are_counted_by_tool_and_outcome(api_factory: ApiFactory) -> None:
    async with api_factory(METRICS_ENABLED="1") as api:
        alice = api.auth("alice")
        created = await api.client.post("/api/alice/tasks", json={"title": "x"}, headers=alice)
        assert created.status_code == 201
        await api.client.get("/api/alice/tasks/999999", headers=alice)
        async with mcp_session(api, "alice") as client:
            await client.call_tool("list_tasks", {})
        text = (await api.client.get("/metrics")).text

    assert value(text, "todo_tool_calls_total", tool="add_task", outcome="ok") == 1
    assert value(text, "todo_tool_calls_total", tool="get_task", outcome="not_found") == 1
    assert value(text, "todo_tool_calls_total", tool="list_tasks", outcome="ok") == 1  # /mcp
    assert value(text, "todo_tool_call_duration_seconds_count", tool="add_task") == 1


@dataclass(frozen=True)
class ModelCall:
    outcome: str
    seconds: float
    input_tokens: int
    output_tokens: int


def test_model_calls_are_counted_with_latency_and_tokens() -> None:
    metrics = Metrics()

    metrics.observe_model_call(ModelCall("ok", 1.5, 1200, 80))
    metrics.observe_model_call(ModelCall("ok", 0.5, 300, 20))
    metrics.observe_model_call(ModelCall("rate_limited", 0.1, 0, 0))

    text = metrics.render().decode()
    assert value(text, "todo_model_calls_total", outcome="ok") == 2
    assert value(text, "todo_model_calls_total", outcome="rate_limited") == 1
    assert value(text, "todo_model_call_duration_seconds_sum", outcome="ok") == 2.0
    assert value(text, "todo_model_tokens_total", direction="input") == 1500
    assert value(text, "todo_model_tokens_total", direction="output") == 100


def test_pool_in_use_is_read_at_each_scrape() -> None:
    in_use = [3]
    metrics = Metrics(lambda: in_use[0])

    first = value(metrics.render().decode(), "todo_db_pool_connections_in_use")
    in_use[0] = 5
    second = value(metrics.render().decode(), "todo_db_pool_connections_in_use")

    assert (first, second) == (3, 5)
