"""One turn at a time per conversation, across processes, and tool calls stored as they run:
the real app (two of them on one database, as two processes) against the fake model, on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import anyio

from tests.agent.chat_support import ALICE, chat, chat_ok, conversation, tasks_of
from tests.support.api import ApiFactory
from tests.support.fake_gemini import Action, Fail, FakeGemini, ModelRequest, call, text


def held_until(gate: threading.Event) -> Any:
    """A model that adds a task, then answers only once `gate` is set."""

    def respond(request: ModelRequest) -> Action:
        if not request.function_responses():
            return call("add_task", {"title": "Buy milk"})
        assert gate.wait(20), "the test never let the model answer"
        return text("Added it.")

    return respond


async def test_a_turn_sent_while_another_runs_gets_409_and_nothing_is_stored(
    chat_factory: ApiFactory, fake_gemini: FakeGemini
) -> None:
    gate = threading.Event()
    async with chat_factory() as here, chat_factory() as there:
        fake_gemini.queue(text("Hello."))
        conversation_id = (await chat_ok(here, ALICE, "Hi"))["conversation_id"]
        fake_gemini.respond(held_until(gate))
        first: dict[str, Any] = {}

        async def first_turn() -> None:
            first.update(await chat_ok(here, ALICE, "Add milk", conversation_id))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(first_turn)
                await anyio.to_thread.run_sync(fake_gemini.wait_for_requests, 3)
                # The tool call that ran is stored while the turn still goes on.
                running = (await conversation(there, ALICE, conversation_id))["messages"]
                [task] = await tasks_of(there, ALICE)
                busy = await chat(there, ALICE, "Did that work?", conversation_id)
                gate.set()

        assert busy.status_code == 409, busy.text
        assert busy.headers["content-type"] == "application/problem+json"
        assert int(busy.headers["Retry-After"]) >= 1
        assert busy.json()["conversation_id"] == conversation_id
        assert [m["role"] for m in running] == ["user", "assistant", "user", "assistant"]
        [recorded] = running[-1]["tool_calls"]
        assert (recorded["name"], recorded["result"]["id"]) == ("add_task", task["id"])
        assert len(fake_gemini.requests) == 3  # the refused turn never reached the model

        messages = (await conversation(here, ALICE, conversation_id))["messages"]
        assert [m["content"] for m in messages] == ["Hi", "Hello.", "Add milk", "Added it."]
        assert first["response"] == "Added it."
        # The conversation takes turns again once the first is done.
        fake_gemini.respond(lambda _request: text("Yes, milk was added."))
        again = await chat_ok(there, ALICE, "Did that work?", conversation_id)
        assert again["response"] == "Yes, milk was added."


async def test_a_failed_turn_gives_the_conversation_back(
    chat_factory: ApiFactory, fake_gemini: FakeGemini
) -> None:
    async with chat_factory() as api:
        fake_gemini.respond(lambda _request: text("Hello."))
        conversation_id = (await chat_ok(api, ALICE, "Hi"))["conversation_id"]

        fake_gemini.queue(Fail(400, "Bad request."))
        failed = await chat(api, ALICE, "Again", conversation_id)
        assert failed.status_code == 502, failed.text

        answer = await chat_ok(api, ALICE, "Once more", conversation_id)
        assert answer["response"] == "Hello."
