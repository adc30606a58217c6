"""The chat files tasks into lists by name and turns repeating wishes into rules, through the
real google-genai SDK against the fake Gemini (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from tests.agent.chat_support import ALICE, chat_ok, tasks_of
from tests.support.api import Api
from tests.support.fake_gemini import Action, FakeGemini, ModelRequest, call, text

REPLY = "Added 'Pay rent' to Bills; it repeats on the last day of each month."
RULE = "FREQ=MONTHLY;BYMONTHDAY=-1"


async def test_a_turn_files_a_repeating_task_into_a_list_named_by_the_user(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    made = await chat_api.client.post(
        f"/api/{ALICE}/lists", json={"name": "Bills"}, headers=chat_api.auth(ALICE)
    )
    bills = made.json()

    def respond(request: ModelRequest) -> Action:
        responses = request.function_responses()
        if not responses:
            return call("list_lists", {})
        if responses[-1]["name"] == "list_lists":
            lists = responses[-1]["response"]["result"]["lists"]
            list_id = next(item["id"] for item in lists if item["name"] == "Bills")
            arguments = {
                "title": "Pay rent",
                "due_date": "2026-12-31",
                "recurrence": RULE,
                "list_id": list_id,
            }
            return call("add_task", arguments)
        return text(REPLY)

    fake_gemini.respond(respond)

    answer = await chat_ok(
        chat_api, ALICE, "Put 'pay rent' in my Bills list, due the last day of every month"
    )

    first = fake_gemini.requests[0]
    declared: dict[str, Any] = {d["name"]: d for d in first.declarations}
    assert {"list_lists", "add_list"} <= declared.keys()
    assert {"list_id", "recurrence"} <= declared["add_task"]["parameters"]["properties"].keys()
    # The prompt says how to file into a named list and how to write such a rule.
    assert "list_lists" in first.system_instruction
    assert RULE in first.system_instruction
    assert [c["name"] for c in answer["tool_calls"]] == ["list_lists", "add_task"]
    assert answer["response"] == REPLY
    (task,) = await tasks_of(chat_api, ALICE)
    assert (task["title"], task["list_id"], task["recurrence"]) == ("Pay rent", bills["id"], RULE)
    assert task["due_date"] == "2026-12-31"


async def test_a_list_is_not_deleted_from_chat_and_the_model_is_told_why(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    made = await chat_api.client.post(
        f"/api/{ALICE}/lists", json={"name": "Bills"}, headers=chat_api.auth(ALICE)
    )
    bills = made.json()
    fake_gemini.queue(call("delete_list", {"list_id": bills["id"]}), text("I could not."))

    await chat_ok(chat_api, ALICE, "delete my Bills list")

    (response,) = fake_gemini.requests[1].function_responses()
    assert "not available in chat" in response["response"]["error"]
    still = await chat_api.client.get(
        f"/api/{ALICE}/lists/{bills['id']}", headers=chat_api.auth(ALICE)
    )
    assert still.status_code == 200
