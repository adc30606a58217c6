"""The chat operations of the route table: `/chat`, the conversations, and the chat UI
protocols (ChatKit, the AI SDK stream). `route_table.ROUTES` lists them with the others."""

from __future__ import annotations

from http_adapter.chat_ui_models import AiSdkRequest, ChatKitBody
from http_adapter.operations import Answer, Error, Operation
from http_adapter.route_parts import (
    AUTH_ERRORS,
    BODY_ERRORS,
    CONVERSATION_NOT_FOUND,
    RETRY_AFTER,
)
from http_adapter.schemas import ChatAnswer, ChatRequest, MessagePage
from storage.conversations import ConversationDetail, ConversationPublic

CONVERSATIONS = "/api/{user_id}/conversations"
CONVERSATION = CONVERSATIONS + "/{conversation_id}"

# --- chat -------------------------------------------------------------------------------------

CHAT = Operation(
    "POST",
    "/api/{user_id}/chat",
    "Send the chat agent a message; it may call the task tools",
    operation_id="chat",
    body=ChatRequest,
    answers=(
        Answer(
            200,
            "The agent's answer; with `Accept: text/event-stream`, Server-Sent Events "
            "`tool_call`, `tool_result`, `delta`, then `done` (this same object) or `error` "
            "(a problem)",
            ChatAnswer,
            event_stream=True,
        ),
    ),
    errors=(
        CONVERSATION_NOT_FOUND,
        *BODY_ERRORS,
        Error(
            409,
            "The conversation is still answering an earlier message (a turn at a time); "
            "nothing was stored. Retry after Retry-After seconds.",
            headers=(RETRY_AFTER,),
        ),
        Error(
            429,
            "Too many chat messages; retry after Retry-After seconds.",
            headers=(RETRY_AFTER,),
        ),
        Error(502, "The model failed or gave no usable answer."),
        Error(504, "The model did not answer in time."),
        *AUTH_ERRORS,
        Error(
            503,
            "Chat is not configured (no GEMINI_API_KEY), the model is overloaded (with "
            "Retry-After), or the database is unavailable.",
            headers=(RETRY_AFTER,),
        ),
    ),
)
LIST_CONVERSATIONS = Operation(
    "GET",
    CONVERSATIONS,
    "List chat conversations, newest first",
    operation_id="listConversations",
    answers=(Answer(200, "The conversations", ConversationPublic, many=True),),
    errors=AUTH_ERRORS,
)
GET_CONVERSATION = Operation(
    "GET",
    CONVERSATION,
    "A conversation with its messages (a page of them, newest last)",
    operation_id="getConversation",
    query=MessagePage,
    answers=(Answer(200, "The conversation", ConversationDetail),),
    errors=(CONVERSATION_NOT_FOUND, Error(422, "A query parameter is invalid."), *AUTH_ERRORS),
)
DELETE_CONVERSATION = Operation(
    "DELETE",
    CONVERSATION,
    "Delete a conversation and its messages",
    operation_id="deleteConversation",
    answers=(Answer(204, "Deleted"),),
    errors=(CONVERSATION_NOT_FOUND, *AUTH_ERRORS),
)

# --- chat UIs --------------------------------------------------------------------------------

CHAT_UI_ERRORS = (
    Error(404, "No such conversation for this user."),
    Error(409, "The conversation is still answering an earlier message.", headers=(RETRY_AFTER,)),
    Error(413, "The body is too large."),
    Error(422, "The body is not a request of this protocol."),
    Error(
        429,
        "Too many chat messages; retry after Retry-After seconds.",
        headers=(RETRY_AFTER,),
    ),
)
CHATKIT = Operation(
    "POST",
    "/api/{user_id}/chatkit",
    "The ChatKit server protocol (openai-chatkit 1.6), for ChatKit UIs",
    operation_id="chatkit",
    body=ChatKitBody,
    answers=(
        Answer(
            200,
            "The answer: JSON, or ChatKit stream events as SSE",
            schema={"type": "object"},
            event_stream=True,
        ),
    ),
    errors=(
        Error(
            400,
            "A request this server does not serve (attachments, dictation): ChatKit's error form",
            schema={"type": "object"},
        ),
        *CHAT_UI_ERRORS,
        Error(501, "The chatkit extra is not installed on this server."),
        *AUTH_ERRORS,
    ),
)
CHAT_AI_SDK = Operation(
    "POST",
    "/api/{user_id}/chat/ai-sdk",
    "The Vercel AI SDK UI message stream (v1), for useChat",
    operation_id="chatAiSdk",
    body=AiSdkRequest,
    answers=(
        Answer(
            200,
            "UI message stream chunks as SSE (`x-vercel-ai-ui-message-stream: v1`), ending "
            "with `data: [DONE]`",
            event_stream=True,
        ),
    ),
    errors=(
        Error(400, "The body is not valid JSON."),
        *CHAT_UI_ERRORS,
        *AUTH_ERRORS,
        Error(
            503,
            "Chat is not configured (no GEMINI_API_KEY), or the database is unavailable.",
            headers=(RETRY_AFTER,),
        ),
    ),
)
