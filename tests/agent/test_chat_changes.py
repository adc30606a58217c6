"""A task the chat agent writes is a change like any other: an open events stream gets it and
delta sync lists it (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.agent.chat_support import ALICE, chat_ok
from tests.support.api import Api
from tests.support.fake_gemini import FakeGemini, call, text
from tests.support.sse import asgi_get


async def test_a_task_added_in_chat_reaches_an_open_stream_and_delta_sync(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    auth = chat_api.auth(ALICE)
    listed = await chat_api.client.get(f"/api/{ALICE}/tasks", headers=auth)
    since = int(listed.headers["X-Changes-Next"])
    fake_gemini.queue(call("add_task", {"title": "Book the dentist"}), text("Added."))
    async with asgi_get(chat_api.app, f"/api/{ALICE}/events", auth) as stream:
        events = stream.events()
        await chat_ok(chat_api, ALICE, "Remind me to book the dentist")
        [change] = await events.changes(1)
    assert change["op"] == "created"
    assert change["task"]["title"] == "Book the dentist"
    synced = await chat_api.client.get(f"/api/{ALICE}/changes?since={since}", headers=auth)
    assert [c["seq"] for c in synced.json()["changes"]] == [change["seq"]]
