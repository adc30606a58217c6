"""`POST /mcp` bodies the MCP transport would drop in silence are answered with a JSON-RPC
error (400); everything else still reaches the transport."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import MCP_HEADERS, Api, mcp_session
from tests.support.api import MCP_INITIALIZE as INITIALIZE


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": None, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": True, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": [1], "method": "tools/list"},
        {"jsonrpc": "2.0", "id": {"a": 1}, "method": "initialize", "params": INITIALIZE["params"]},
        [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}],
        "tools/list",
    ],
)
async def test_a_message_with_an_unusable_id_or_shape_gets_a_json_rpc_error(
    api: Api, message: Any
) -> None:
    response = await api.client.post(
        "/mcp", json=message, headers={**MCP_HEADERS, **api.auth("alice")}
    )

    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] is None
    assert answer["error"]["code"] == -32600
    assert answer["error"]["message"].startswith("Invalid request")


async def test_a_method_that_is_not_a_string_is_answered_with_the_requests_id(api: Api) -> None:
    response = await api.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 7, "method": 5},
        headers={**MCP_HEADERS, **api.auth("alice")},
    )

    assert response.status_code == 400
    assert response.json()["id"] == 7


async def test_json_nested_10000_deep_is_a_parse_error(api: Api) -> None:
    response = await api.client.post(
        "/mcp",
        content=b"[" * 10_000 + b"]" * 10_000,
        headers={**MCP_HEADERS, **api.auth("alice"), "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


async def test_good_messages_still_reach_the_server(api: Api) -> None:
    async with mcp_session(api, "alice") as client:
        added = await client.call_tool("add_task", {"title": "over /mcp"})
        listed = await client.call_tool("list_tasks", {})

    assert added.structured_content is not None
    assert listed.structured_content is not None
    assert listed.structured_content["tasks"] == [added.structured_content]
