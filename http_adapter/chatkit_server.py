"""The ChatKit server protocol over our agent (needs the `chatkit` extra; imported by
`chatkit_route` only when the route is used).

`openai-chatkit`'s `ChatKitServer` parses every request and routes it; we give it a store
over our conversations and answer its `respond` and `action` with our own Gemini turns.
Requests the server has no use for (attachments, dictation, client tools, structured input,
sync actions) get ChatKit's error form with a sentence saying so.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from chatkit.actions import Action
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    ChatKitReq,
    ErrorEvent,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
    is_streaming_req,
)
from pydantic import TypeAdapter, ValidationError
from starlette.responses import JSONResponse, Response

from agent.consent import DECISION_WORDS, Decision
from http_adapter.chat_turns import TurnStarter, decision_of, turn_events, turn_failure
from http_adapter.chatkit_items import (
    CANCEL_ACTION,
    CONFIRM_ACTION,
    LiveItems,
    answered_item,
    now,
    user_item,
)
from http_adapter.chatkit_store import (
    NO_ATTACHMENTS,
    ConversationStore,
    RequestContext,
    message_text,
)
from http_adapter.problems import HTTPProblem
from http_adapter.sse_response import SSE_HEADERS, FrameStream
from storage.conversations import ConversationRepository, title_from

if TYPE_CHECKING:
    from agent.chat import ChatTurn

REQUESTS: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)
UNSUPPORTED = {
    "attachments.create": NO_ATTACHMENTS,
    "attachments.delete": NO_ATTACHMENTS,
    "input.transcribe": "This server does not transcribe audio: type the message instead.",
    "threads.add_client_tool_output": "This server defines no client tools.",
    "threads.add_structured_input": "This server asks for no structured input.",
    "threads.sync_custom_action": "This server's actions stream their answer: send them as "
    "threads.custom_action.",
}
NOT_STORED = "That message was not stored, so it cannot be retried: send it again."
STREAMING = {
    "threads.create",
    "threads.add_user_message",
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.retry_after_item",
    "threads.custom_action",
}


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(self, conversations: ConversationRepository, starter: TurnStarter) -> None:
        self.todo_store = ConversationStore(conversations, starter)
        super().__init__(self.todo_store)
        self.starter = starter

    async def answer(self, body: bytes, user: str) -> Response:
        """The HTTP answer to one ChatKit request of `user`. A turn the request started that
        has not begun to run when the answer ends (the request refused after its start, or
        the stream stopped before the turn's frames) gives its lease back."""
        context = RequestContext(user)
        try:
            answer = await self._answer(body, context)
        except BaseException:
            await context.abandon_turn()
            raise
        if isinstance(answer, FrameStream):
            answer.on_end = context.abandon_turn
        else:
            await context.abandon_turn()
        return answer

    async def _answer(self, body: bytes, context: RequestContext) -> Response:
        try:
            request = REQUESTS.validate_json(body)
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]
            raise HTTPProblem(422, "The body is not a ChatKit request.", errors=errors) from None
        refusal = UNSUPPORTED.get(request.type)
        if (
            refusal is None
            and isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq)
            and request.params.input.attachments
        ):
            refusal = NO_ATTACHMENTS
        if refusal is not None:
            return _refusal(request.type, refusal)
        if isinstance(request, ThreadsCreateReq):
            # The first turn starts before `thread.created` is sent: a turn refused (the
            # rate limit) gets ChatKit's error alone, not a phantom thread whose conversation
            # was never stored and that the client's next request could not find. Not
            # retryable: a retry names a stored message, and this one was not stored (the
            # error says to send it again).
            try:
                await self.todo_store.open_thread(request.params.input.content, context)
            except HTTPProblem as exc:
                return _refusal(request.type, exc.detail)
        try:
            result = await self._dispatch(request, context)
            if isinstance(result, NonStreamingResult):
                return Response(result.json, media_type="application/json")
            frames = result.json_events
            # The first frame comes after the thread is loaded: a thread that is not the
            # user's is answered 404, before any frame is sent.
            first = await anext(frames, None)
        except NotFoundError as exc:
            raise HTTPProblem(404, str(exc) or "Not found.") from None
        except ValueError as exc:  # the package's word for a request that does not fit
            return _refusal(request.type, str(exc))
        if first is None:
            # Only a retry of an item the thread does not hold has nothing to say: a message
            # refused before it was stored (the rate limit, a turn running), so never stored.
            return _refusal(request.type, NOT_STORED)
        keepalive_s = self.starter.ctx.settings.chat_keepalive_s
        return FrameStream(_chain(first, frames), keepalive_s)

    async def process(
        self, request: str | bytes | bytearray, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        return await self._dispatch(REQUESTS.validate_json(request), context)

    async def _dispatch(
        self, request: ChatKitReq, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        # What the package's `process` does, with the request parsed once by an adapter built
        # once: the package builds a new TypeAdapter for every request, most of a turn's cost.
        if is_streaming_req(request):
            return StreamingResult(self._process_streaming(request, context))
        return NonStreamingResult(await self._process_non_streaming(request, context))

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        assert isinstance(context, RequestContext)
        if context.failure is not None:
            # Refused before it was stored: a retry could not find it, so none is offered.
            raise CustomStreamError(context.failure.detail, allow_retry=False)
        text = ""
        if input_user_message is not None:
            text = message_text(input_user_message.content)
        if context.turn is None:
            # A retry: the message is asked again. Its turn failed and left nothing after it:
            # it is answered as stored, not stored twice. Something came after it: it is
            # stored again, as it was said again (the history keeps what was said before).
            asked = input_user_message.id if input_user_message is not None else ""
            retry_of = int(asked) if asked.isdigit() else None
            await self._start(thread, text, context, retry_of=retry_of)
        if not thread.title:
            thread.title = title_from(text)
        assert context.turn is not None
        async for event in self._run(context.turn, LiveItems(thread.id, context.base)):
            yield event

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: Any,
    ) -> AsyncIterator[ThreadStreamEvent]:
        assert isinstance(context, RequestContext)
        if action.type not in (CONFIRM_ACTION, CANCEL_ACTION):
            raise CustomStreamError(f"Unknown action {action.type!r}.")
        approve = action.type == CONFIRM_ACTION
        decision = decision_of(approve)
        text = DECISION_WORDS[decision]
        await self._start(thread, text, context, decision=decision)
        if sender is not None:
            answer = "Confirmed." if approve else "Cancelled."
            yield ThreadItemReplacedEvent(item=answered_item(sender, answer))
        yield ThreadItemDoneEvent(item=user_item(thread.id, int(context.base), text, now()))
        assert context.turn is not None
        async for event in self._run(context.turn, LiveItems(thread.id, context.base)):
            yield event

    async def _run(self, turn: ChatTurn, live: LiveItems) -> AsyncIterator[ThreadStreamEvent]:
        try:
            async for event in turn_events(turn, self.starter.ctx.shutdown):
                for frame in live.frames(event):
                    yield frame
        except Exception as exc:
            problem = turn_failure(exc)
            if problem is None:
                raise
            raise _stream_error(problem) from None

    async def _start(
        self,
        thread: ThreadMetadata,
        text: str,
        context: RequestContext,
        decision: Decision | None = None,
        retry_of: int | None = None,
    ) -> None:
        try:
            context.turn = await self.starter.start(
                context.user, text, thread.id, decision=decision, retry_of=retry_of
            )
        except HTTPProblem as exc:
            raise _stream_error(exc) from None
        context.base = str(context.turn.message_id)


def _stream_error(problem: HTTPProblem) -> CustomStreamError:
    return CustomStreamError(
        problem.detail, allow_retry=problem.status in (409, 429, 502, 503, 504)
    )


def _refusal(request_type: str, message: str) -> Response:
    error = ErrorEvent(code="custom", message=message, allow_retry=False)
    if request_type in STREAMING:
        frame = b"data: " + error.model_dump_json().encode() + b"\n\n"
        return Response(frame, media_type="text/event-stream", headers=SSE_HEADERS)
    return JSONResponse(error.model_dump(mode="json"), status_code=400)


async def _chain(first: bytes, rest: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for frame in rest:
            yield frame
    finally:
        await rest.aclose()
