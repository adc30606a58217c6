"""What the model is sent of earlier turns: each turn as it happened, tool results compact, the
whole within a token budget; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from tests.agent.chat_support import ALICE, chat_ok, find_then, model_view
from tests.support.api import Api, ApiFactory
from tests.support.fake_gemini import FakeGemini, call, text


def kinds(contents: list[dict[str, Any]]) -> list[str]:
    """Each content as role:kind, the kind being what its parts are."""
    described = []
    for content in contents:
        part = content["parts"][0]
        kind = (
            "call"
            if "functionCall" in part
            else "response"
            if "functionResponse" in part
            else "text"
        )
        described.append(f"{content['role']}:{kind}")
    return described


async def add_tasks(api: Api, count: int) -> None:
    for n in range(count):
        response = await api.client.post(
            f"/api/{ALICE}/tasks",
            json={
                "title": f"Task number {n} with a title of some length",
                "description": "x" * 300,
            },
            headers=api.auth(ALICE),
        )
        assert response.status_code == 201


async def test_a_multi_round_turn_is_replayed_step_by_step(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    await add_tasks(chat_api, 1)
    fake_gemini.respond(find_then("Task", "complete_task", "Done."))
    first = await chat_ok(chat_api, ALICE, "Complete the task")
    fake_gemini.respond(lambda request: text("Nothing else."))

    await chat_ok(chat_api, ALICE, "Anything else?", first["conversation_id"])

    contents = fake_gemini.requests[-1].contents
    assert kinds(contents) == [
        "user:text",
        "model:call",
        "user:response",
        "model:call",
        "user:response",
        "model:text",
        "user:text",
    ]
    # Replayed as the model produced them: ids and signatures kept.
    original = fake_gemini.requests[2].contents
    assert contents[1:5] == original[1:5]


async def test_a_long_list_is_shown_capped_with_how_many_more(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    await add_tasks(chat_api, 60)
    fake_gemini.queue(call("list_tasks", {"limit": 100}), text("Sixty tasks."))

    answer = await chat_ok(chat_api, ALICE, "List my tasks")

    assert len(answer["tool_calls"][0]["result"]["tasks"]) == 60  # the client gets them all
    [sent_back] = fake_gemini.requests[1].function_responses()
    shown = sent_back["response"]["result"]
    assert shown["total"] == 60
    assert len(shown["tasks"]) == 50
    assert shown["more"].startswith("10 more not shown")
    first = answer["tool_calls"][0]["result"]["tasks"][0]
    assert shown["tasks"][0] == {**model_view(first), "description": "x" * 199 + "…"}


async def test_history_stays_within_the_token_budget_in_a_long_conversation(
    chat_factory: ApiFactory, fake_gemini: FakeGemini
) -> None:
    def list_then_answer(request: Any) -> Any:
        return text("Listed.") if request.function_responses() else call("list_tasks")

    fake_gemini.respond(list_then_answer)
    budget = 4000
    async with chat_factory(CHAT_HISTORY_TOKENS=str(budget), CHAT_RATE_LIMIT="100") as api:
        await add_tasks(api, 30)
        conversation_id = (await chat_ok(api, ALICE, "List my tasks"))["conversation_id"]
        for n in range(19):
            await chat_ok(api, ALICE, f"List them again ({n})", conversation_id)

    def history_tokens(turn: int) -> int:
        """Tokens (at 4 characters each) of the history the turn's first request carried."""
        request = [r for r in fake_gemini.requests if not r.function_responses()][turn - 1]
        return len(json.dumps(request.contents[:-1])) // 4

    second, twentieth = history_tokens(2), history_tokens(20)
    assert 1000 < second < budget
    assert twentieth <= budget * 1.1  # the estimate is in the request's camelCase
    # Older turns are shrunk: their lists keep at most 10 tasks of id, title and state.
    oldest = [
        part["functionResponse"]["response"]["result"]
        # the twentieth turn's first request, less the latest turn (4 contents) and its message
        for content in fake_gemini.requests[-2].contents[:-5]
        for part in content["parts"]
        if "functionResponse" in part
    ]
    assert len(oldest) >= 3
    assert all(len(result["tasks"]) == 10 for result in oldest)
    assert all(set(task) == {"id", "title", "completed"} for r in oldest for task in r["tasks"])
