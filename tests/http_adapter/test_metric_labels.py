"""Metric labels come from fixed sets: a tool name or method a client (or the model) makes up is
counted as `other`, so no client can add series to /metrics or bytes to every scrape."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mcp_server.errors import TaskToolError
from tests.support.api import MCP_HEADERS, Api, ApiFactory


def series(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    return {
        (sample.name, frozenset(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def label_values(text: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if label in sample.labels
    }


async def call_over_mcp(api: Api, name: str) -> None:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}},
    }
    response = await api.client.post("/mcp", json=message, headers=MCP_HEADERS | api.auth("alice"))
    assert response.status_code == 200, response.text


async def scrape(api: Api) -> str:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_unknown_tool_names_do_not_grow_the_metrics(api_factory: ApiFactory) -> None:
    async with api_factory(METRICS_ENABLED="1") as api:
        dispatcher = api.app.state.ctx.dispatcher

        async def unknown_calls(names: list[str]) -> None:
            for name in names:
                await call_over_mcp(api, name)
                # The chat's path: the model names the tool, the dispatcher calls it.
                with pytest.raises(TaskToolError, match="no tool named"):
                    await dispatcher.call("alice", name + "\nforged", {})

        await call_over_mcp(api, "list_tasks")
        await unknown_calls(["unknown"])
        await scrape(api)
        before = await scrape(api)
        await unknown_calls([f"{n}-" + "x" * 10_000 for n in range(30)])
        after = await scrape(api)

    assert label_values(after, "tool") == {"list_tasks", "other"}
    # The same series, only their counts and sums changed.
    assert series(after) == series(before)
    assert len(after) - len(before) < 200
    assert "xxxxxxxxxx" not in after


async def test_a_made_up_method_is_counted_as_other(api_factory: ApiFactory) -> None:
    async with api_factory(METRICS_ENABLED="1") as api:
        for n in range(5):
            await api.client.request(f"BREW{n}", "/health")
        await api.client.get("/health")
        text = await scrape(api)

    assert label_values(text, "method") == {"GET", "other"}
