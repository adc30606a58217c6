"""ChatKit requests checked, and answers read, by the `openai-chatkit` package's own types (for
the tests of the ChatKit route, which import this only once the package is known present)."""

from __future__ import annotations

from typing import Any

from chatkit.types import ChatKitReq, ThreadStreamEvent
from pydantic import TypeAdapter

from tests.support.api import Api
from tests.support.chat_ui import chatkit, sse_data

REQUESTS: TypeAdapter[Any] = TypeAdapter(ChatKitReq)
EVENTS: TypeAdapter[Any] = TypeAdapter(ThreadStreamEvent)


def request(kind: str, **params: Any) -> dict[str, Any]:
    """A ChatKit request, checked against the package's request union before it is sent."""
    body = {"type": kind, "params": params}
    REQUESTS.validate_python(body)
    return body


def user_input(message: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": message}],
        "attachments": [],
        "inference_options": {},
    }


async def stream(api: Api, user: str, body: dict[str, Any]) -> list[Any]:
    """The frames of a streamed answer, each validated as a `ThreadStreamEvent`."""
    response = await chatkit(api, user, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [EVENTS.validate_python(frame) for frame in sse_data(response.text)]


async def plain(api: Api, user: str, body: dict[str, Any], status: int = 200) -> Any:
    response = await chatkit(api, user, body)
    assert response.status_code == status, response.text
    return response.json()


def of_type(frames: list[Any], kind: str) -> list[Any]:
    return [f for f in frames if f.type == kind]
