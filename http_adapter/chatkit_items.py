"""Conversations as ChatKit thread items, stored and live (needs the `chatkit` extra).

A stored user message is one `user_message` item whose id is the message's id. The assistant
reply that follows it becomes up to three items named after that user message: `{id}.tools` (a
workflow whose tasks are the tool calls), `{id}.reply` (the text) and, while a delete proposal
awaits the user's answer, `{id}.confirm` (a confirm/cancel widget). A live turn streams the
same ids, so a client that reloads the thread, retries or acts on the widget finds the items it
was shown; every turn's items are fresh, since every turn has its own user message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    CustomSummary,
    CustomTask,
    InferenceOptions,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.widgets import DynamicWidgetRoot

from agent.events import DeltaEvent, DoneEvent, Event, ProposalEvent, ToolCallEvent
from storage.conversations import MessageRecord

CONFIRM_ACTION = "todo.delete.confirm"
CANCEL_ACTION = "todo.delete.cancel"
_TASK_TEXT = 600  # characters of a tool call's arguments or result shown in its task


def user_item(thread_id: str, message_id: int, text: str, created_at: datetime) -> UserMessageItem:
    return UserMessageItem(
        id=str(message_id),
        thread_id=thread_id,
        created_at=created_at,
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def stored_items(thread_id: str, messages: Sequence[MessageRecord]) -> list[ThreadItem]:
    """The thread's items, oldest first, for the conversation's messages."""
    items: list[ThreadItem] = []
    base: str | None = None
    for index, message in enumerate(messages):
        if message.role == "user":
            base = str(message.id)
            items.append(user_item(thread_id, message.id, message.content, message.created_at))
            continue
        # A reply with no user message before it (a history cut short) is named by its own id.
        name = base if base is not None else f"a{message.id}"
        base = None
        at = message.created_at
        if message.tool_calls:
            tasks = [
                _task(c["name"], c.get("arguments"), c.get("result")) for c in message.tool_calls
            ]
            items.append(_workflow(thread_id, f"{name}.tools", tasks, at))
        items.append(_reply(thread_id, f"{name}.reply", message.content, at))
        pending = (message.turn or {}).get("pending") or []
        if pending and index == len(messages) - 1:
            # Only the last reply's proposal can still be answered.
            proposals = [_proposal_of(p) for p in pending]
            items.append(proposal_item(thread_id, f"{name}.confirm", proposals, at))
    return items


def proposal_item(
    thread_id: str,
    item_id: str,
    proposals: Sequence[dict[str, Any]],
    created_at: datetime,
) -> WidgetItem:
    """The confirm/cancel card of a delete proposal."""
    lines = [
        {"type": "Text", "value": f'#{p["task_id"]} "{p.get("title") or ""}"'} for p in proposals
    ]
    card: dict[str, Any] = {
        "type": "Card",
        "children": [
            {"type": "Title", "value": f"Delete {len(proposals)} task(s)?"},
            *lines,
        ],
    }
    card["confirm"] = {"label": "Delete", "action": {"type": CONFIRM_ACTION}}
    card["cancel"] = {"label": "Keep", "action": {"type": CANCEL_ACTION}}
    return WidgetItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at,
        widget=DynamicWidgetRoot.model_validate(card),
        inputs=[],
        copy_text="Delete " + ", ".join(str(line["value"]) for line in lines) + "?",
    )


def answered_item(card: WidgetItem, answer: str) -> WidgetItem:
    """The proposal's card once answered: its buttons gone, the answer said."""
    widget = card.widget.model_dump(mode="json")
    widget.pop("confirm", None)
    widget.pop("cancel", None)
    widget["children"] = [*widget.get("children", []), {"type": "Caption", "value": answer}]
    return card.model_copy(update={"widget": DynamicWidgetRoot.model_validate(widget)})


def now() -> datetime:
    return datetime.now(UTC)


class LiveItems:
    """A running turn's events as ChatKit stream events, named as `stored_items` names them."""

    def __init__(self, thread_id: str, base: str) -> None:
        self.thread_id = thread_id
        self.base = base
        self._workflow: WorkflowItem | None = None
        self._reply: AssistantMessageItem | None = None
        self._task_index: dict[str, int] = {}
        self._proposals: list[dict[str, Any]] = []
        self._count = {"tools": 0, "reply": 0}

    def frames(self, event: Event) -> Iterator[ThreadStreamEvent]:
        if isinstance(event, ToolCallEvent):
            yield from self._end_reply()
            task = _task(event.name, event.arguments, None, loading=True)
            if self._workflow is None:
                self._workflow = _workflow(self.thread_id, self._id("tools"), [task], now())
                self._task_index = {event.id: 0}
                yield ThreadItemAddedEvent(item=self._workflow)
            else:
                index = len(self._workflow.workflow.tasks)
                self._workflow.workflow.tasks.append(task)
                self._task_index[event.id] = index
                yield _updated(self._workflow.id, WorkflowTaskAdded(task_index=index, task=task))
        elif isinstance(event, DeltaEvent):
            yield from self._end_workflow()
            if self._reply is None:
                item_id, at = self._id("reply"), now()
                self._reply = _reply(self.thread_id, item_id, "", at)
                # Added empty: the text follows as deltas (a second item, not a deep copy).
                yield ThreadItemAddedEvent(item=_reply(self.thread_id, item_id, "", at))
                content = AssistantMessageContent(text="")
                yield _updated(
                    self._reply.id,
                    AssistantMessageContentPartAdded(content_index=0, content=content),
                )
            self._reply.content[0].text += event.text
            delta = AssistantMessageContentPartTextDelta(content_index=0, delta=event.text)
            yield _updated(self._reply.id, delta)
        elif isinstance(event, ProposalEvent):
            self._proposals.extend(event.proposals)
        elif isinstance(event, DoneEvent):
            yield from self._end_workflow()
            yield from self._end_reply()
            if self._proposals:
                item_id = f"{self.base}.confirm"
                yield ThreadItemDoneEvent(
                    item=proposal_item(self.thread_id, item_id, self._proposals, now())
                )
        elif self._workflow is not None and event.id in self._task_index:
            index = self._task_index[event.id]
            task = _task(
                event.name, None, event.outcome.get("result", event.outcome), loading=False
            )
            self._workflow.workflow.tasks[index] = task
            yield _updated(self._workflow.id, WorkflowTaskUpdated(task_index=index, task=task))

    def _id(self, kind: str) -> str:
        # A turn that speaks, calls tools and speaks again has several replies: the first is
        # named as the stored reply is, the others get a number.
        self._count[kind] += 1
        suffix = "" if self._count[kind] == 1 else str(self._count[kind])
        return f"{self.base}.{kind}{suffix}"

    def _end_workflow(self) -> Iterator[ThreadStreamEvent]:
        if self._workflow is not None:
            self._workflow.workflow.summary = _summary(len(self._workflow.workflow.tasks))
            yield ThreadItemDoneEvent(item=self._workflow)
            self._workflow = None

    def _end_reply(self) -> Iterator[ThreadStreamEvent]:
        if self._reply is not None:
            content = self._reply.content[0]
            yield _updated(
                self._reply.id, AssistantMessageContentPartDone(content_index=0, content=content)
            )
            yield ThreadItemDoneEvent(item=self._reply)
            self._reply = None


def _updated(item_id: str, update: Any) -> ThreadItemUpdatedEvent:
    return ThreadItemUpdatedEvent(item_id=item_id, update=update)


def _reply(thread_id: str, item_id: str, text: str, at: datetime) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=at,
        content=[AssistantMessageContent(text=text)],
    )


def _workflow(thread_id: str, item_id: str, tasks: list[Any], at: datetime) -> WorkflowItem:
    return WorkflowItem(
        id=item_id,
        thread_id=thread_id,
        created_at=at,
        workflow=Workflow(type="custom", tasks=tasks, summary=_summary(len(tasks))),
    )


def _summary(count: int) -> CustomSummary:
    return CustomSummary(title=f"Used {count} tool" + ("s" if count != 1 else ""), icon="bolt")


def _task(name: str, arguments: Any, result: Any, *, loading: bool = False) -> CustomTask:
    shown = arguments if result is None else result
    content = json.dumps(shown, ensure_ascii=False, default=str) if shown else None
    if content is not None and len(content) > _TASK_TEXT:
        content = content[: _TASK_TEXT - 1] + "…"
    return CustomTask(
        title=name,
        icon="bolt",
        content=content,
        status_indicator="loading" if loading else "complete",
    )


def _proposal_of(pending: dict[str, Any]) -> dict[str, Any]:
    """A stored proposal in the shape of a `ProposalEvent`'s."""
    arguments = pending.get("arguments") or {}
    return {
        "task_id": pending.get("task_id", arguments.get("task_id")),
        "title": pending.get("title"),
        "version": str(pending.get("version", "")),
    }
