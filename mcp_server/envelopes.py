"""Screening JSON-RPC messages before the MCP SDK reads them.

The SDK drops what it cannot read without a word: a line that is not JSON, a batch, a request
whose id is `1.5` or `null` (read as a notification, which gets no answer). The client then
waits out its own timeout. Screened here, each gets the JSON-RPC error the protocol asks for:
-32700 (id null) for what is not JSON, -32600 for what is JSON but no message the server can
serve. A malformed *response* is the one thing JSON-RPC forbids answering; it is only logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

RequestId = int | str


@dataclass(frozen=True)
class Rejection:
    code: int
    message: str
    # The id to answer with: the message's own when it has a usable one, else null.
    id: RequestId | None = None
    # False for a malformed response: answering an answer could make two peers loop.
    answerable: bool = True


def _is_int(value: Any) -> bool:
    # A boolean is no integer here, although Python counts it as one.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: Any) -> bool:
    # Strings and integers only: JSON-RPC discourages fractions and MCP forbids null.
    return isinstance(value, str) or _is_int(value)


def screen(raw: str | bytes) -> Rejection | None:
    """Why the SDK could not serve this message, or None when it can."""
    try:
        message = json.loads(raw)
    except RecursionError:
        return Rejection(PARSE_ERROR, "Parse error: the JSON is nested too deeply.")
    except ValueError:
        return Rejection(PARSE_ERROR, "Parse error: the message is not valid JSON.")
    if isinstance(message, list):
        return Rejection(
            INVALID_REQUEST, "Invalid request: batches are not supported; send one message."
        )
    if not isinstance(message, dict):
        return Rejection(INVALID_REQUEST, "Invalid request: a message is a JSON object.")
    return _screen_object(message)


def _screen_object(message: dict[str, Any]) -> Rejection | None:
    has_id = "id" in message
    request_id = message.get("id")
    usable_id = request_id if has_id and _is_id(request_id) else None
    if "method" not in message and ("result" in message or "error" in message):
        return _screen_response(message)
    if has_id and usable_id is None:
        return Rejection(INVALID_REQUEST, "Invalid request: the id must be a string or an integer.")
    if message.get("jsonrpc") != "2.0":
        return Rejection(INVALID_REQUEST, 'Invalid request: "jsonrpc" must be "2.0".', usable_id)
    if not isinstance(message.get("method"), str):
        return Rejection(INVALID_REQUEST, 'Invalid request: "method" must be a string.', usable_id)
    if message.get("params") is not None and not isinstance(message["params"], dict):
        return Rejection(INVALID_REQUEST, 'Invalid request: "params" must be an object.', usable_id)
    return None


def _screen_response(message: dict[str, Any]) -> Rejection | None:
    if "result" in message:
        well_formed = _is_id(message.get("id")) and isinstance(message["result"], dict)
    else:
        error = message["error"]
        well_formed = (
            (message.get("id") is None or _is_id(message.get("id")))
            and isinstance(error, dict)
            and _is_int(error.get("code"))
            and isinstance(error.get("message"), str)
        )
    if well_formed and message.get("jsonrpc") == "2.0":
        return None
    return Rejection(INVALID_REQUEST, "Invalid response from the client.", answerable=False)
