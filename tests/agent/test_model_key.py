"""A Gemini API key the model refuses is named as the cause, not reported as a failed answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google import genai
from google.genai import types

from agent.client import gemini_client
from agent.events import ModelError
from agent.model_call import ask
from tests.support.fake_gemini import Fail, FakeGemini

MODEL = "gemini-3.8-flash"


@pytest.fixture
async def client(fake_gemini: FakeGemini) -> AsyncIterator[genai.Client]:
    made = gemini_client(
        "not-a-key",
        base_url=fake_gemini.url,
        timeout_s=10,
        retry_attempts=1,
        retry_initial_delay_s=0,
    )
    yield made
    await made.aio.aclose()


async def _no_text(_text: str) -> None:
    pass


@pytest.mark.parametrize(
    "refusal",
    [
        Fail(400, "API key not valid. Please pass a valid API key."),
        Fail(403, "Method doesn't allow unregistered callers."),
    ],
    ids=["invalid-key", "forbidden"],
)
async def test_a_refused_key_is_named_in_the_error(
    client: genai.Client, fake_gemini: FakeGemini, refusal: Fail
) -> None:
    fake_gemini.queue(refusal)
    contents = [types.Content(role="user", parts=[types.Part(text="Hi")])]
    with pytest.raises(ModelError) as raised:
        await ask(
            client,
            MODEL,
            contents,
            types.GenerateContentConfig(),
            stream=False,
            on_text=_no_text,
            observer=lambda _call: None,
        )
    assert "GEMINI_API_KEY" in str(raised.value.detail)
    assert "refused" in str(raised.value.detail)


async def test_another_bad_request_is_not_blamed_on_the_key(
    client: genai.Client, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(Fail(400, "Request contains an invalid argument."))
    contents = [types.Content(role="user", parts=[types.Part(text="Hi")])]
    with pytest.raises(ModelError) as raised:
        await ask(
            client,
            MODEL,
            contents,
            types.GenerateContentConfig(),
            stream=False,
            on_text=_no_text,
            observer=lambda _call: None,
        )
    assert "GEMINI_API_KEY" not in str(raised.value.detail)
