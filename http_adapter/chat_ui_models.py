"""What the chat UI routes (ChatKit, the AI SDK stream) take, for the route table. Their
bodies are defined by the protocols' own packages, so these models name the fields that
route the request and leave the rest to the protocol."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatKitBody(BaseModel):
    """A ChatKit request (`threads.create`, `threads.add_user_message`, `threads.list`, ...;
    see https://github.com/openai/chatkit-python). Threads are this user's conversations."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="the request type, as openai-chatkit 1.6 defines it")


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str = ""
    role: Literal["user", "assistant", "system"]
    parts: list[dict[str, Any]] = Field(default_factory=list, max_length=200)


class AiSdkRequest(BaseModel):
    """What `DefaultChatTransport` sends (plus whatever `body` the app adds, ignored)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$")
    messages: list[UIMessage] = Field(min_length=1, max_length=1000)
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: str | None = None
