"""The JSON-RPC screen in front of the MCP SDK (`mcp_server.envelopes`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_server.envelopes import INVALID_REQUEST, PARSE_ERROR, screen

REQUEST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.mark.parametrize(
    "message",
    [
        REQUEST,
        {**REQUEST, "id": "abc"},
        {**REQUEST, "params": {}},
        {**REQUEST, "params": None},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 3, "result": {}},
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -1, "message": "no"}},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -1, "message": "no"}},
    ],
)
def test_messages_the_sdk_serves_pass(message: dict[str, Any]) -> None:
    assert screen(json.dumps(message)) is None


@pytest.mark.parametrize(
    ("raw", "code", "answer_id"),
    [
        ("not json", PARSE_ERROR, None),
        ('{"jsonrpc": "2.0", "id": 1', PARSE_ERROR, None),
        ("[" * 10_000 + "]" * 10_000, PARSE_ERROR, None),
        ("1" * 5000, PARSE_ERROR, None),
        (json.dumps([REQUEST]), INVALID_REQUEST, None),
        ("[]", INVALID_REQUEST, None),
        ('"tools/list"', INVALID_REQUEST, None),
        (json.dumps({**REQUEST, "id": 1.5}), INVALID_REQUEST, None),
        (json.dumps({**REQUEST, "id": None}), INVALID_REQUEST, None),
        (json.dumps({**REQUEST, "id": True}), INVALID_REQUEST, None),
        (json.dumps({**REQUEST, "jsonrpc": "1.0"}), INVALID_REQUEST, 1),
        (json.dumps({"jsonrpc": "2.0", "id": 1}), INVALID_REQUEST, 1),
        (json.dumps({**REQUEST, "method": 5}), INVALID_REQUEST, 1),
        (json.dumps({**REQUEST, "params": [1]}), INVALID_REQUEST, 1),
        (json.dumps({"jsonrpc": "2.0", "method": "x", "params": "p"}), INVALID_REQUEST, None),
    ],
)
def test_what_the_sdk_would_drop_is_answered(raw: str, code: int, answer_id: int | None) -> None:
    rejection = screen(raw)

    assert rejection is not None
    assert rejection.answerable
    assert rejection.code == code
    assert rejection.id == answer_id
    assert rejection.message


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "result": 5},
        {"jsonrpc": "2.0", "id": 1.5, "result": {}},
        {"jsonrpc": "2.0", "id": 1, "error": "bad"},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": True, "message": "m"}},
        {"id": 1, "result": {}},
    ],
)
def test_a_malformed_response_is_refused_but_never_answered(message: dict[str, Any]) -> None:
    rejection = screen(json.dumps(message))

    assert rejection is not None
    assert not rejection.answerable
