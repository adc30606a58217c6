"""One model call as the agent makes it: what an answer's finish and block reasons lead to, the
usage each call reports, and the fake's Gemini 3 realism (signatures). The real google-genai SDK
against the fake model; through the app where the behaviour is the user's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from agent.client import gemini_client
from agent.events import ModelError
from agent.model_call import ModelCall, ask
from tests.agent.chat_support import ALICE, chat, chat_ok, conversation, conversations_of
from tests.support.api import Api
from tests.support.fake_gemini import (
    Fail,
    FakeGemini,
    blocked,
    call,
    empty,
    malformed,
    prompt_blocked,
    text,
)

MODEL = "gemini-3.8-flash"


@pytest.fixture
async def client(fake_gemini: FakeGemini) -> AsyncIterator[genai.Client]:
    made = gemini_client(
        "test-key",
        base_url=fake_gemini.url,
        timeout_s=10,
        retry_attempts=1,
        retry_initial_delay_s=0,
    )
    yield made
    await made.aio.aclose()


async def _no_text(_text: str) -> None:
    pass


def _user(message: str) -> list[types.Content]:
    return [types.Content(role="user", parts=[types.Part(text=message)])]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_every_call_is_reported_with_its_usage(
    client: genai.Client, fake_gemini: FakeGemini, stream: bool
) -> None:
    fake_gemini.queue(text("Hello there."), Fail(429))
    seen: list[ModelCall] = []
    config = types.GenerateContentConfig()

    answer = await ask(
        client, MODEL, _user("Hi"), config, stream=stream, on_text=_no_text, observer=seen.append
    )
    with pytest.raises(ModelError):
        await ask(
            client,
            MODEL,
            _user("Hi"),
            config,
            stream=stream,
            on_text=_no_text,
            observer=seen.append,
        )

    ok, limited = seen
    assert (ok.outcome, limited.outcome) == ("ok", "rate_limited")
    assert ok.input_tokens > 0
    assert ok.output_tokens > 0
    assert (answer.input_tokens, answer.output_tokens) == (ok.input_tokens, ok.output_tokens)
    assert 0 <= ok.seconds < 10


async def test_the_fake_refuses_a_function_call_sent_back_without_its_signature(
    client: genai.Client, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(call("list_tasks", call_id="c1"))
    contents = _user("List my tasks")
    first = await client.aio.models.generate_content(model=MODEL, contents=contents)
    assert first.candidates
    model_content = first.candidates[0].content
    assert model_content is not None
    assert model_content.parts
    assert model_content.parts[0].thought_signature
    unsigned = types.Content(
        role="model", parts=[types.Part(function_call=model_content.parts[0].function_call)]
    )
    response = types.Part(
        function_response=types.FunctionResponse(id="c1", name="list_tasks", response={})
    )

    with pytest.raises(genai_errors.ClientError) as refused:
        await client.aio.models.generate_content(
            model=MODEL,
            contents=[*contents, unsigned, types.Content(role="user", parts=[response])],
        )

    assert refused.value.code == 400
    assert "thought_signature" in (refused.value.message or "")


async def test_an_empty_answer_is_asked_for_again(chat_api: Api, fake_gemini: FakeGemini) -> None:
    fake_gemini.queue(empty(), text("Hello!"))

    answer = await chat_ok(chat_api, ALICE, "Hi")

    assert answer["response"] == "Hello!"
    assert answer["usage"]["model_calls"] == 2


async def test_a_malformed_function_call_is_asked_for_again(
    chat_api: Api, fake_gemini: FakeGemini
) -> None:
    fake_gemini.queue(malformed(), call("list_tasks"), text("No tasks."))

    answer = await chat_ok(chat_api, ALICE, "List my tasks")

    assert answer["response"] == "No tasks."
    assert [c["name"] for c in answer["tool_calls"]] == ["list_tasks"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_twice_empty_is_a_502_and_stores_no_reply(
    chat_api: Api, fake_gemini: FakeGemini, stream: bool
) -> None:
    fake_gemini.queue(empty(), empty())

    response = await chat(chat_api, ALICE, "Hi", stream=stream)

    [stored] = await conversations_of(chat_api, ALICE)
    if stream:
        assert "event: error" in response.text
        assert '"status": 502' in response.text
    else:
        assert response.status_code == 502
        assert response.json()["detail"] == "The model returned no answer."
    messages = (await conversation(chat_api, ALICE, stored["id"]))["messages"]
    assert [m["role"] for m in messages] == ["user"]


@pytest.mark.parametrize(
    "refusal",
    [blocked(), blocked("PROHIBITED_CONTENT"), prompt_blocked()],
    ids=["safety", "prohibited", "prompt"],
)
async def test_a_safety_block_is_a_clear_refusal(
    chat_api: Api, fake_gemini: FakeGemini, refusal: object
) -> None:
    fake_gemini.queue(refusal)  # type: ignore[arg-type]

    answer = await chat_ok(chat_api, ALICE, "Something the filters block")

    assert "blocked by the model's safety filters" in answer["response"]
    assert len(fake_gemini.requests) == 1  # a block is not retried
    messages = (await conversation(chat_api, ALICE, answer["conversation_id"]))["messages"]
    assert messages[-1]["content"] == answer["response"]
