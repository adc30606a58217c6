"""What the model is sent is always well formed: every function call followed by exactly one
response. The fake model refuses anything else with the real API's words, so these tests
interrupt turns every way a turn can be interrupted and check that the conversation goes on,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from agent.history import NOT_RUN
from storage.conversations import ConversationRepository
from storage.database import Database
from tests.agent.chat_support import (
    ALICE,
    AsgiExchange,
    chat_ok,
    conversation,
    conversations_of,
    tasks_of,
)
from tests.support.api import Api
from tests.support.fake_gemini import FakeGemini, calls, signature, text

UNPAIRED = (
    "Please ensure that the number of function response parts is equal to the number of "
    "function call parts of the function call turn."
)


def _call(call_id: str, name: str = "list_tasks") -> dict[str, Any]:
    return {
        "functionCall": {"id": call_id, "name": name, "args": {}},
        "thoughtSignature": signature(call_id),
    }


def _response(call_id: str | None, name: str = "list_tasks") -> dict[str, Any]:
    response: dict[str, Any] = {"name": name, "response": {"result": {}}}
    if call_id is not None:
        response["id"] = call_id
    return {"functionResponse": response}


ASK = {"role": "user", "parts": [{"text": "What is on my list?"}]}


@pytest.mark.parametrize(
    ("contents", "refusal"),
    [
        ([ASK, {"role": "model", "parts": [_call("a")]}], UNPAIRED),
        (
            [
                ASK,
                {"role": "model", "parts": [_call("a"), _call("b")]},
                {"role": "user", "parts": [_response("a")]},
            ],
            UNPAIRED,
        ),
        (
            [
                ASK,
                {"role": "model", "parts": [_call("a")]},
                {"role": "model", "parts": [{"text": "Here you are."}]},
                ASK,
            ],
            UNPAIRED,
        ),
        (
            [
                ASK,
                {"role": "model", "parts": [_call("a")]},
                {"role": "user", "parts": [_response("a", "get_task")]},
            ],
            UNPAIRED,
        ),
        (
            [
                ASK,
                {"role": "model", "parts": [_call("a")]},
                {"role": "user", "parts": [_response("b")]},
            ],
            UNPAIRED,
        ),
        (
            [ASK, {"role": "user", "parts": [_response("a")]}],
            "Please ensure that function response turn comes immediately after a function "
            "call turn.",
        ),
        (
            [
                ASK,
                {"role": "model", "parts": [{"text": "Let me look."}]},
                {"role": "model", "parts": [_call("a")]},
                {"role": "user", "parts": [_response("a")]},
            ],
            "Please ensure that function call turn comes immediately after a user turn or "
            "after a function response turn.",
        ),
    ],
)
async def test_the_fake_model_refuses_what_the_real_api_refuses(
    fake_gemini: FakeGemini, contents: list[dict[str, Any]], refusal: str
) -> None:
    async with httpx.AsyncClient(base_url=fake_gemini.url) as client:
        response = await client.post(
            "/v1beta/models/gemini-test:generateContent", json={"contents": contents}
        )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == refusal
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_the_fake_model_answers_well_formed_contents(fake_gemini: FakeGemini) -> None:
    fake_gemini.queue(text("Nothing yet."))
    contents = [
        ASK,
        {"role": "model", "parts": [_call("a"), _call("b")]},
        {"role": "user", "parts": [_response("b"), _response("a")]},
    ]
    async with httpx.AsyncClient(base_url=fake_gemini.url) as client:
        response = await client.post(
            "/v1beta/models/gemini-test:generateContent", json={"contents": contents}
        )

    assert response.status_code == 200, response.text


async def _interrupted(api: Api, fake_gemini: FakeGemini, *, after: str) -> str:
    """A turn whose model asks for two adds at once, cancelled (as a shutdown cancels it) as
    soon as the stream has sent `after`; the conversation's id."""
    fake_gemini.queue(
        calls(("add_task", {"title": "First"}), ("add_task", {"title": "Second"}), call_id="p")
    )
    exchange = AsgiExchange()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:

            def on_chunk(_chunk: bytes) -> None:
                if after in exchange.body:
                    group.cancel_scope.cancel()

            exchange.on_chunk = on_chunk
            group.start_soon(exchange.run, api, ALICE, {"message": "Add First and Second"})
    [stored] = await conversations_of(api, ALICE)
    return str(stored["id"])


@pytest.mark.parametrize("after", ["event: tool_call", "event: tool_result"])
async def test_a_turn_cancelled_between_parallel_calls_leaves_a_conversation_that_goes_on(
    chat_api: Api, fake_gemini: FakeGemini, after: str
) -> None:
    conversation_id = await _interrupted(chat_api, fake_gemini, after=after)
    # The first call had started, so it ran and is recorded; the second never ran.
    assert [t["title"] for t in await tasks_of(chat_api, ALICE)] == ["First"]
    fake_gemini.queue(text("Only First was added."))

    answer = await chat_ok(chat_api, ALICE, "Did that work?", conversation_id)

    assert answer["response"] == "Only First was added."
    assert fake_gemini.refused == []
    replayed = fake_gemini.requests[-1].contents
    [responses] = [c["parts"] for c in replayed if "functionResponse" in c["parts"][0]]
    assert [r["functionResponse"]["id"] for r in responses] == ["p", "p-2"]
    assert "result" in responses[0]["functionResponse"]["response"]
    assert responses[1]["functionResponse"]["response"] == {"error": NOT_RUN}
    messages = (await conversation(chat_api, ALICE, conversation_id))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [c["arguments"]["title"] for c in messages[1]["tool_calls"]] == ["First"]


async def test_older_stored_turns_with_unanswered_calls_are_replayed_well_formed(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    # Records as an earlier version, or a process that died mid-turn, left them: calls with
    # no responses, responses with no calls, and a response missing from a pair.
    db = Database(chat_api.settings.resolved_database_url())
    try:
        repository = ConversationRepository(db)
        started = await repository.create(ALICE, "Old")
        broken_turns = [
            [{"role": "model", "parts": [_snake_call("x")]}],
            [{"role": "user", "parts": [_snake_response("y")]}],
            [
                {"role": "model", "parts": [_snake_call("u"), _snake_call("v")]},
                {"role": "user", "parts": [_snake_response("v")]},
            ],
        ]
        for turn in broken_turns:
            await repository.add_message(ALICE, started.id, "user", "Show my tasks")
            await repository.add_message(
                ALICE, started.id, "assistant", "Interrupted.", None, {"contents": turn}
            )
    finally:
        await db.dispose()
    fake_gemini.queue(text("You have no tasks."))

    answer = await chat_ok(chat_api, ALICE, "And now?", started.id)

    assert answer["response"] == "You have no tasks."
    assert fake_gemini.refused == []


def _snake_call(call_id: str) -> dict[str, Any]:
    """A function-call part as a turn record keeps it (the SDK's field names)."""
    return {
        "function_call": {"id": call_id, "name": "list_tasks", "args": {}},
        "thought_signature": signature(call_id),
    }


def _snake_response(call_id: str) -> dict[str, Any]:
    return {"function_response": {"id": call_id, "name": "list_tasks", "response": {"result": {}}}}
