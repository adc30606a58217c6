"""Every chat protocol starts its turn through one `TurnStarter`: the same rate limit, the same
refusals, the same agent, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from http_adapter.chat_turns import TurnStarter
from tests.support.api import Api, ApiFactory
from tests.support.chat_ui import chat_app
from tests.support.fake_gemini import FakeGemini, text

ALICE = "alice"


@pytest.fixture
def api(chat_api: Api) -> Api:
    return chat_api


async def test_chat_starts_its_turn_as_the_chat_uis_do(
    api: Api, fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/chat` has no turn-start logic of its own: a change to the starter (a limit, a
    refusal) reaches it as it reaches ChatKit and the AI SDK stream."""
    started: list[tuple[str, str, str | None, dict[str, Any]]] = []
    start = TurnStarter.start

    async def spy(
        self: TurnStarter, user: str, message: str, conversation_id: str | None, **options: Any
    ) -> Any:
        started.append((user, message, conversation_id, options))
        return await start(self, user, message, conversation_id, **options)

    monkeypatch.setattr(TurnStarter, "start", spy)
    fake_gemini.queue(text("Bonjour !"))

    answered = await api.client.post(
        f"/api/{ALICE}/chat",
        json={"message": "Hello", "timezone": "Europe/Paris"},
        headers=api.auth(ALICE),
    )

    assert answered.status_code == 200, answered.text
    assert started == [(ALICE, "Hello", None, {"timezone": ZoneInfo("Europe/Paris")})]


async def test_a_chat_turn_over_the_limit_names_its_conversation(
    api_factory: ApiFactory, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(text("One."))
    async with chat_app(api_factory, fake_gemini, CHAT_RATE_LIMIT="1") as api:
        first = await api.client.post(
            f"/api/{ALICE}/chat", json={"message": "One"}, headers=api.auth(ALICE)
        )
        conversation_id = first.json()["conversation_id"]
        refused = await api.client.post(
            f"/api/{ALICE}/chat",
            json={"message": "Two", "conversation_id": conversation_id},
            headers=api.auth(ALICE),
        )

    assert refused.status_code == 429
    assert refused.headers["Retry-After"]
    assert refused.json()["conversation_id"] == conversation_id
