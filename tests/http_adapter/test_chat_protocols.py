"""One conversation, three wire protocols: started in `/chat`, continued in ChatKit and in the
AI SDK stream and back, with the same id and the same stored messages, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.support.api import Api
from tests.support.chat_ui import chatkit, sse_data
from tests.support.fake_gemini import FakeGemini, text

pytest.importorskip("chatkit.server", reason="the chatkit extra is not installed")

ALICE = "alice"


@pytest.fixture
def api(chat_api: Api) -> Api:
    return chat_api


def said(fake: FakeGemini, index: int) -> str:
    return json.dumps(fake.requests[index].contents)


async def test_a_conversation_continues_across_protocols(api: Api, fake_gemini: FakeGemini) -> None:
    fake_gemini.queue(text("one"), text("two"), text("three"), text("four"))
    auth = api.auth(ALICE)

    started = await api.client.post(f"/api/{ALICE}/chat", json={"message": "A"}, headers=auth)
    conversation_id = started.json()["conversation_id"]
    in_chatkit = await chatkit(
        api,
        ALICE,
        {
            "type": "threads.add_user_message",
            "params": {
                "thread_id": conversation_id,
                "input": {
                    "content": [{"type": "input_text", "text": "B"}],
                    "attachments": [],
                    "inference_options": {},
                },
            },
        },
    )
    in_ai_sdk = await api.client.post(
        f"/api/{ALICE}/chat/ai-sdk",
        json={
            "id": conversation_id,
            "messages": [{"id": "m", "role": "user", "parts": [{"type": "text", "text": "C"}]}],
            "trigger": "submit-message",
        },
        headers=auth,
    )
    back = await api.client.post(
        f"/api/{ALICE}/chat",
        json={"message": "D", "conversation_id": conversation_id},
        headers=auth,
    )

    assert in_chatkit.status_code == 200, in_chatkit.text
    assert "two" in in_chatkit.text
    assert [c["type"] for c in sse_data(in_ai_sdk.text)][-1] == "finish"
    assert back.json()["response"] == "four"
    # Each turn's model request carried everything said before it, whichever protocol.
    assert '"one"' in said(fake_gemini, 1)
    assert '"two"' in said(fake_gemini, 2)
    assert '"three"' in said(fake_gemini, 3)
    stored = await api.client.get(f"/api/{ALICE}/conversations/{conversation_id}", headers=auth)
    contents = [m["content"] for m in stored.json()["messages"]]
    assert contents == ["A", "one", "B", "two", "C", "three", "D", "four"]
    listed = await chatkit(api, ALICE, {"type": "threads.list", "params": {}})
    assert [t["id"] for t in listed.json()["data"]] == [conversation_id]
