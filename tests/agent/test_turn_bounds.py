"""What one turn sends the model and stores is bounded, bulk results included, while the client
still gets every result in full; and a conversation is read a page at a time. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json

import pytest

from agent.compact import RESULT_CHARS, TURN_RESULT_CHARS
from storage.conversations import ConversationRepository
from storage.database import Database
from tests.agent.chat_support import ALICE, chat_ok, conversation
from tests.support.api import Api
from tests.support.fake_gemini import Action, FakeGemini, ModelRequest, calls, text

NEW_TASKS = [{"title": f"Task {n} " + "t" * 180, "description": "d" * 1000} for n in range(50)]


def adds_then_lists_then_completes(request: ModelRequest) -> Action:
    """A model that adds 50 long tasks, lists them 10 times in one answer, then completes the
    ones it was shown 9 times in one answer (20 calls, a turn's most), then answers."""
    responses = request.function_responses()
    if not responses:
        return calls(("add_tasks", {"tasks": NEW_TASKS}))
    if responses[0]["name"] == "add_tasks":
        return calls(*[("list_tasks", {"limit": 50})] * 10)
    if responses[0]["name"] == "list_tasks":
        ids = [task["id"] for task in responses[0]["response"]["result"]["tasks"]]
        return calls(*[("complete_tasks", {"task_ids": ids})] * 9)
    return text("All done.")


async def test_one_turn_of_many_large_results_sends_and_stores_a_bounded_amount(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    fake_gemini.respond(adds_then_lists_then_completes)

    answer = await chat_ok(chat_api, ALICE, "Add these, show them, then finish them all")

    assert answer["response"] == "All done."
    # The client gets every result in full.
    assert len(answer["tool_calls"]) == 20
    completed = answer["tool_calls"][-1]["result"]
    assert completed["changed"] + completed["failed"] == len(completed["results"]) > 0
    assert len(answer["tool_calls"][1]["result"]["tasks"][0]["description"]) == 1000
    # The model is sent at most the turn's budget of results, each result within its own.
    for request in fake_gemini.requests:
        responses = [
            part["functionResponse"]
            for content in request.contents
            for part in content.get("parts", [])
            if "functionResponse" in part
        ]
        sizes = [len(json.dumps(r["response"])) for r in responses]
        assert all(size <= RESULT_CHARS + 200 for size in sizes)
        assert sum(sizes) <= TURN_RESULT_CHARS + 200 * len(sizes)
    # So is the conversation: its results are those views (the arguments are the model's own).
    stored = await conversation(chat_api, ALICE, answer["conversation_id"])
    results = [c["result"] for c in stored["messages"][-1]["tool_calls"]]
    assert len(json.dumps(results)) <= TURN_RESULT_CHARS + 200 * len(results)
    assert len(json.dumps([c["result"] for c in answer["tool_calls"]])) > 4 * TURN_RESULT_CHARS


async def test_a_conversation_is_read_a_page_at_a_time_newest_last(chat_api: Api) -> None:
    db = Database(chat_api.settings.resolved_database_url())
    try:
        repository = ConversationRepository(db)
        conversation_id = (await repository.create(ALICE, "Long")).id
        for n in range(30):
            await repository.add_message(ALICE, conversation_id, "user", f"m{n}")
            await repository.add_message(ALICE, conversation_id, "assistant", f"Reply to m{n}")
    finally:
        await db.dispose()
    url = f"/api/{ALICE}/conversations/{conversation_id}"

    newest = (await chat_api.client.get(url, headers=chat_api.auth(ALICE))).json()["messages"]
    page = await chat_api.client.get(
        url, params={"limit": 3, "before": newest[0]["id"]}, headers=chat_api.auth(ALICE)
    )

    assert len(newest) == 50  # 60 messages: the newest 50 by default
    assert newest[-1]["content"] == "Reply to m29"
    assert page.status_code == 200
    assert [m["content"] for m in page.json()["messages"]] == ["Reply to m3", "m4", "Reply to m4"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "limit=ten", "before=0", "before=-1", "limit=1.5"]
)
async def test_invalid_paging_is_a_422(chat_api: Api, fake_gemini: FakeGemini, query: str) -> None:
    fake_gemini.queue(text("Hello."))
    conversation_id = (await chat_ok(chat_api, ALICE, "Hi"))["conversation_id"]

    response = await chat_api.client.get(
        f"/api/{ALICE}/conversations/{conversation_id}?{query}", headers=chat_api.auth(ALICE)
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"][0] == "query"
