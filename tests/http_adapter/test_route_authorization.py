"""Every route under /api/{user_id}/ authorizes on its own: a token of another user gets 403
and changes nothing, on the chat and conversation routes as on the task routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.api import Api, ApiFactory
from tests.support.fake_gemini import FakeGemini, text
from tests.support.problems import assert_problem

ALICE, BOB = "alice", "bob"


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
async def chat_api(api_factory: ApiFactory, fake_gemini: FakeGemini) -> AsyncIterator[Api]:
    """The app with chat on (a 403 must not hide behind chat's 503 when it is off)."""
    async with api_factory(GEMINI_API_KEY="test-key", GEMINI_BASE_URL=fake_gemini.url) as api:
        yield api


async def bobs_conversation(api: Api, fake_gemini: FakeGemini) -> dict[str, Any]:
    fake_gemini.queue(text("Hello Bob."))
    response = await api.client.post(
        f"/api/{BOB}/chat", json={"message": "Hi"}, headers=api.auth(BOB)
    )
    assert response.status_code == 200, response.text
    listed = await api.client.get(f"/api/{BOB}/conversations", headers=api.auth(BOB))
    assert listed.status_code == 200, listed.text
    [conversation] = listed.json()
    assert isinstance(conversation, dict)
    return conversation


def assert_forbidden(response: httpx.Response) -> None:
    assert_problem(response, 403)
    assert "www-authenticate" not in response.headers


async def test_another_users_token_cannot_chat_as_them(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    response = await chat_api.client.post(
        f"/api/{BOB}/chat", json={"message": "Delete all my tasks"}, headers=chat_api.auth(ALICE)
    )

    assert_forbidden(response)
    assert fake_gemini.requests == []  # the model was never asked
    for user in (ALICE, BOB):
        listed = await chat_api.client.get(
            f"/api/{user}/conversations", headers=chat_api.auth(user)
        )
        assert listed.json() == [], user  # nothing was stored, under either user


async def test_another_users_token_cannot_list_read_or_delete_their_conversations(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    conversation = await bobs_conversation(chat_api, fake_gemini)
    one = f"/api/{BOB}/conversations/{conversation['id']}"
    alice = chat_api.auth(ALICE)

    assert_forbidden(await chat_api.client.get(f"/api/{BOB}/conversations", headers=alice))
    assert_forbidden(await chat_api.client.get(one, headers=alice))
    assert_forbidden(await chat_api.client.delete(one, headers=alice))

    kept = await chat_api.client.get(one, headers=chat_api.auth(BOB))
    assert kept.status_code == 200, kept.text
    assert [m["role"] for m in kept.json()["messages"]] == ["user", "assistant"]


async def test_another_users_conversation_through_ones_own_path_is_not_found(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    conversation = await bobs_conversation(chat_api, fake_gemini)
    mine = f"/api/{ALICE}/conversations/{conversation['id']}"
    alice = chat_api.auth(ALICE)

    assert_problem(await chat_api.client.get(mine, headers=alice), 404)
    assert_problem(await chat_api.client.delete(mine, headers=alice), 404)
    continued = await chat_api.client.post(
        f"/api/{ALICE}/chat",
        json={"message": "And?", "conversation_id": conversation["id"]},
        headers=alice,
    )
    assert_problem(continued, 404)
    assert len(fake_gemini.requests) == 1  # only Bob's own turn reached the model
    kept = await chat_api.client.get(
        f"/api/{BOB}/conversations/{conversation['id']}", headers=chat_api.auth(BOB)
    )
    assert kept.status_code == 200, kept.text
