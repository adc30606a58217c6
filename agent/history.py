"""Conversation memory for the model: each stored turn replayed as the model produced it, in
order, within a token budget.

An assistant message keeps its turn (`Message.turn`): the contents of that turn after the user's
message (the model's function calls, our function responses, in the order they happened) as
the model saw them. Replay appends the reply text as the model's last word. The newest turns are
replayed as sent; older ones with their tool results shrunk further; and the oldest messages
drop out when the history would cost more than the budget.

What is stored and what is replayed is always well formed (`well_formed`): every function call
is followed by exactly one response, so a turn interrupted between the model's calls and their
responses (a deadline, a shutdown, a crash, or a record stored before this rule) cannot make
the model refuse every later turn of its conversation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.genai import types

from agent.compact import shrunk
from storage.conversations import MessageRecord

RECENT_TURNS = 1  # assistant turns replayed exactly as the model saw them
# Tokens are estimated from the JSON size: about 4 characters a token for English text and
# JSON, which keeps the bound without a count_tokens round trip per turn.
CHARS_PER_TOKEN = 4

Contents = list[dict[str, Any]]
NOT_RUN = "Not run: the turn was interrupted before this call could run."


def turn_record(
    contents: Sequence[types.Content], pending: list[dict[str, Any]], usage: dict[str, int]
) -> dict[str, Any]:
    """What an assistant message keeps of its turn."""
    record: dict[str, Any] = {
        "contents": well_formed([c.model_dump(mode="json", exclude_none=True) for c in contents]),
        "usage": usage,
    }
    if pending:
        record["pending"] = pending
    return record


def history_contents(messages: Sequence[MessageRecord], budget_tokens: int) -> list[types.Content]:
    """The messages (oldest first, the user's new message last) as Gemini contents."""
    groups: list[tuple[str, Contents]] = []
    assistant_turns = 0
    for message in reversed(messages):
        if message.role == "user":
            groups.append(("user", [{"role": "user", "parts": [{"text": message.content}]}]))
        else:
            assistant_turns += 1
            groups.append(("model", _assistant(message, shrink=assistant_turns > RECENT_TURNS)))
    kept: list[tuple[str, Contents]] = []
    used = 0
    for role, group in groups:  # newest first; the user's new message is always kept
        cost = len(json.dumps(group)) // CHARS_PER_TOKEN
        if kept and used + cost > budget_tokens:
            break
        kept.append((role, group))
        used += cost
    kept.reverse()
    while kept and kept[0][0] != "user":
        kept.pop(0)  # the window starts mid-exchange: the model must not speak first
    return [types.Content.model_validate(c) for _, group in kept for c in group]


def _assistant(message: MessageRecord, *, shrink: bool) -> Contents:
    reply = {"role": "model", "parts": [{"text": message.content}]}
    if message.turn is None:
        return [*_legacy(message.tool_calls or []), reply]
    contents = well_formed(message.turn.get("contents", []))
    if shrink:
        contents = [_shrink(content) for content in contents]
    return [*contents, reply]


def well_formed(contents: Contents) -> Contents:
    """The contents of a turn with each model turn of function calls followed by one response
    per call: a call that never ran gets a response saying so, and a response to no call is
    dropped."""
    fixed: Contents = []
    n = 0
    while n < len(contents):
        content = contents[n]
        n += 1
        parts = content.get("parts", [])
        calls = [p["function_call"] for p in parts if "function_call" in p]
        if not calls or content.get("role") != "model":
            kept = [p for p in parts if "function_response" not in p]
            if kept:  # responses here answer no call of the turn just before
                fixed.append({**content, "parts": kept} if len(kept) < len(parts) else content)
            continue
        fixed.append(content)
        given: list[dict[str, Any]] = []
        if n < len(contents) and contents[n].get("role") == "user":
            given = [
                p["function_response"]
                for p in contents[n].get("parts", [])
                if "function_response" in p
            ]
            n += 1 if given else 0
        fixed.append({"role": "user", "parts": _answers(calls, given)})
    return fixed


def _answers(calls: list[dict[str, Any]], given: list[dict[str, Any]]) -> Contents:
    """One response part per call, in the calls' order: its own if it has one (by id, else by
    name), otherwise one saying that it never ran."""
    unused = list(given)
    parts: Contents = []
    for call in calls:
        match = next(
            (
                r
                for r in unused
                if (r.get("id") == call["id"] if call.get("id") else r.get("name") == call["name"])
            ),
            None,
        )
        if match is None:
            match = {"name": call.get("name", ""), "response": {"error": NOT_RUN}}
            if call.get("id"):
                match["id"] = call["id"]
        else:
            unused.remove(match)
        parts.append({"function_response": match})
    return parts


def _shrink(content: dict[str, Any]) -> dict[str, Any]:
    parts = []
    for part in content.get("parts", []):
        response = part.get("function_response")
        if isinstance(response, dict) and isinstance(response.get("response"), dict):
            part = {
                **part,
                "function_response": {**response, "response": shrunk(response["response"])},
            }
        parts.append(part)
    return {**content, "parts": parts}


def _legacy(tool_calls: list[dict[str, Any]]) -> Contents:
    """Tool calls of a message stored before turns were kept: one call/response pair."""
    if not tool_calls:
        return []
    calls = [{"function_call": {"name": c["name"], "args": c["arguments"]}} for c in tool_calls]
    responses = [
        {"function_response": {"name": c["name"], "response": shrunk(_as_response(c["result"]))}}
        for c in tool_calls
    ]
    return [{"role": "model", "parts": calls}, {"role": "user", "parts": responses}]


def _as_response(result: Any) -> dict[str, Any]:
    if isinstance(result, dict) and set(result) == {"error"}:
        return {"error": result["error"]}
    return {"result": result}
