"""The ChatKit store over our conversations: a thread's first turn, a retried message and
what a turn asks of the database, on SQLite and PostgreSQL, with the package's own types reading
the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support.api import Api, ApiFactory
from tests.support.chat_ui import chat_app
from tests.support.fake_gemini import Fail, FakeGemini, call, text

pytest.importorskip("chatkit.server", reason="the chatkit extra is not installed")

from chatkit.types import ErrorEvent, Page, Thread

from tests.support.chatkit_wire import of_type, plain, request, stream, user_input

ALICE = "alice"


@pytest.fixture
def api(chat_api: Api) -> Api:
    return chat_api


async def test_a_retry_after_a_failed_turn_stores_the_message_once(
    api: Api, fake_gemini: FakeGemini
) -> None:
    fake_gemini.respond(lambda _request: Fail(400))
    failed = await stream(api, ALICE, request("threads.create", input=user_input("Hello")))
    thread_id = of_type(failed, "thread.created")[0].thread.id
    [asked] = [f.item for f in of_type(failed, "thread.item.done") if f.item.type == "user_message"]
    assert of_type(failed, "error")
    fake_gemini.respond(lambda _request: text("Here it is."))

    retried = await stream(
        api, ALICE, request("threads.retry_after_item", thread_id=thread_id, item_id=asked.id)
    )

    [reply] = [f.item for f in of_type(retried, "thread.item.done")]
    assert reply.content[0].text == "Here it is."
    stored = (
        await api.client.get(f"/api/{ALICE}/conversations/{thread_id}", headers=api.auth(ALICE))
    ).json()
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "Hello"),
        ("assistant", "Here it is."),
    ]
    # The model was asked the message once, not twice in a row.
    assert json.dumps(fake_gemini.requests[-1].contents).count("Hello") == 1


async def test_a_new_thread_refused_by_the_rate_limit_is_only_an_error(
    api_factory: ApiFactory, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(text("One."))
    async with chat_app(api_factory, fake_gemini, CHAT_RATE_LIMIT="1") as api:
        first = await stream(api, ALICE, request("threads.create", input=user_input("One")))
        refused = await stream(api, ALICE, request("threads.create", input=user_input("Two")))
        listed = Page[Thread].model_validate(await plain(api, ALICE, request("threads.list")))

    # No thread is announced that was never stored: the client shows the error alone, and
    # offers no retry (a retry names a stored message); the error says to send it again.
    [error] = refused
    assert isinstance(error, ErrorEvent)
    assert not error.allow_retry
    assert "Too many chat messages" in (error.message or "")
    assert [t.id for t in listed.data] == [of_type(first, "thread.created")[0].thread.id]


async def test_a_chatkit_turn_asks_the_database_no_more_than_a_chat_turn(
    api: Api, fake_gemini: FakeGemini
) -> None:
    """The protocol adds frames, not reads: its first turn creates the conversation as
    `/chat`'s does, and names its items from what the turn stored."""
    statements: list[str] = []

    def note(*args: Any) -> None:
        statement = str(args[2])
        if "conversation" in statement or "message" in statement:
            statements.append(statement)

    async def counted(turn: Any) -> int:
        statements.clear()
        event.listen(Engine, "before_cursor_execute", note)
        try:
            await turn
        finally:
            event.remove(Engine, "before_cursor_execute", note)
        return len(statements)

    fake_gemini.queue(call("add_task", {"title": "Milk"}), text("Added."))
    fake_gemini.queue(call("add_task", {"title": "Eggs"}), text("Added."))
    in_chat = await counted(
        api.client.post(
            f"/api/{ALICE}/chat",
            json={"message": "Add Milk"},
            headers={**api.auth(ALICE), "Accept": "text/event-stream"},
        )
    )
    in_chatkit = await counted(
        stream(api, ALICE, request("threads.create", input=user_input("Add Eggs")))
    )

    assert in_chatkit <= in_chat


async def test_retrying_a_refused_message_asks_for_it_again(
    api_factory: ApiFactory, fake_gemini: FakeGemini
) -> None:
    """A message refused by the rate limit was not stored, so a retry cannot find it: none is
    offered, and one sent anyway is answered ChatKit's error saying to send it again."""
    fake_gemini.queue(text("One."))
    async with chat_app(api_factory, fake_gemini, CHAT_RATE_LIMIT="1") as api:
        first = await stream(api, ALICE, request("threads.create", input=user_input("One")))
        thread_id = of_type(first, "thread.created")[0].thread.id
        refused = await stream(
            api,
            ALICE,
            request("threads.add_user_message", thread_id=thread_id, input=user_input("Two")),
        )
        [shown] = [f.item for f in of_type(refused, "thread.item.done")]
        retried = await stream(
            api, ALICE, request("threads.retry_after_item", thread_id=thread_id, item_id=shown.id)
        )

    [refusal] = of_type(refused, "error")
    assert not refusal.allow_retry
    [error] = retried
    assert isinstance(error, ErrorEvent)
    assert "send it again" in (error.message or "")
