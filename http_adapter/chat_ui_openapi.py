"""The OpenAPI description of the chat UI routes (ChatKit, AI SDK). Their bodies are defined
by the protocols' own packages, so the document names them and links to their definitions
rather than copying the schemas."""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/Problem"


def chat_ui_paths(user_param: dict[str, Any], auth_errors: dict[str, Any]) -> dict[str, Any]:
    retry_after = {
        "Retry-After": {"description": "Seconds", "schema": {"type": "integer"}},
    }
    turn_errors = {
        "404": _problem("No such conversation for this user."),
        "413": _problem("The body is too large."),
        "422": _problem("The body is not a request of this protocol."),
        "429": {
            **_problem("Too many chat messages; retry after Retry-After seconds."),
            "headers": retry_after,
        },
    }
    return {
        "/api/{user_id}/chatkit": {
            "parameters": [user_param],
            "post": {
                "summary": "The ChatKit server protocol (openai-chatkit 1.6), for ChatKit UIs",
                "description": "A ChatKit request (`threads.create`, `threads.add_user_message`, "
                "`threads.list`, ...; see https://github.com/openai/chatkit-python). Threads "
                "are this user's conversations. Needs the `chatkit` extra.",
                "operationId": "chatkit",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {
                        "description": "The answer: JSON, or ChatKit stream events as SSE",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "400": {
                        "description": "A request this server does not serve (attachments, "
                        "dictation): ChatKit's error form",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **turn_errors,
                    "501": _problem("The chatkit extra is not installed on this server."),
                    **auth_errors,
                },
            },
        },
        "/api/{user_id}/chat/ai-sdk": {
            "parameters": [user_param],
            "post": {
                "summary": "The Vercel AI SDK UI message stream (v1), for useChat",
                "description": "The body `DefaultChatTransport` sends; `id` names the "
                "conversation (a new one opens it). Only the last message is read.",
                "operationId": "chatAiSdk",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "messages"],
                                "properties": {
                                    "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,36}$"},
                                    "messages": {"type": "array", "items": {"type": "object"}},
                                    "trigger": {"enum": ["submit-message", "regenerate-message"]},
                                    "messageId": {"type": ["string", "null"]},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "UI message stream chunks as SSE "
                        "(`x-vercel-ai-ui-message-stream: v1`), ending with `data: [DONE]`",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": _problem("The body is not valid JSON."),
                    **turn_errors,
                    **auth_errors,
                    "503": {
                        **_problem(
                            "Chat is not configured (no GEMINI_API_KEY), or the database is "
                            "unavailable."
                        ),
                        "headers": retry_after,
                    },
                },
            },
        },
    }


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF}}},
    }
