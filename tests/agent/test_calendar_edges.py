"""A model that asks for dates at the calendar's edge gets a tool error it can act on, and the
chat turn goes on; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.agent.chat_support import ALICE, chat_ok
from tests.support.api import Api
from tests.support.fake_gemini import FakeGemini, call, text


@pytest.mark.parametrize("today", ["0001-01-01", "9999-12-31"])
async def test_overdue_at_the_calendars_edge_goes_back_to_the_model_naming_today(
    chat_api: Api, fake_gemini: FakeGemini, today: str
) -> None:
    fake_gemini.queue(
        call("list_tasks", {"due": "overdue", "today": today}), text("Which day is it?")
    )

    answer = await chat_ok(chat_api, ALICE, "What is overdue?")

    assert answer["response"] == "Which day is it?"
    [tool_call] = answer["tool_calls"]
    assert "today" in tool_call["result"]["error"]
    [sent_back] = fake_gemini.requests[1].function_responses()
    assert sent_back["response"] == {"error": tool_call["result"]["error"]}
