"""Read-only admin of conversations, hand-offs and feedback, for superusers only.

Conversations hold customer data as the asker saw it; the portal shows them to their owner
(and hand-offs to supervisors). The admin is for investigating, never for editing: answers
and hand-offs change only through the assistant's services, which audit every change.

Answers show here as they show to any reader who is not the asker
(``assistant.presenters.messages_shown``): an answer drawing on a collection or customer the
superuser may not read is hidden, and only the citations they may open are listed. Being a
superuser opens the admin's pages, not the collections (docs/roles.md).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from assistant.models import Conversation, Feedback, Handoff, Message
from assistant.presenters import ShownMessage, messages_shown
from portal.types import AnyUser


class _SuperuserReadOnly:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _shown_to(user: AnyUser, message: Message) -> ShownMessage:
    conversation = message.conversation
    messages = list(conversation.messages.all())
    return messages_shown(user, conversation, messages)[message.pk]


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


MESSAGE_FIELDS = [
    "role", "shown_content", "shown_citations", "source_chunk_ids", "source_record_ids",
    "shown_tool_calls", "shown_cards", "model_name", "prompt_tokens", "completion_tokens",
    "latency_ms", "error", "created_at",
]  # fmt: skip


class MessageInline(_SuperuserReadOnly, admin.StackedInline[Message, Conversation]):
    """Each message as the superuser may read it (Django makes an inline per request)."""

    model = Message
    extra = 0
    fields = tuple(MESSAGE_FIELDS)
    readonly_fields = MESSAGE_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        self._reader = request.user
        self._shown: dict[int, ShownMessage] = {}
        return super().get_queryset(request)

    def _message_shown(self, message: Message) -> ShownMessage:
        if not self._shown:
            conversation = message.conversation
            rows = list(conversation.messages.all())
            self._shown = messages_shown(self._reader, conversation, rows)
        return self._shown[message.pk]

    @admin.display(description="content")
    def shown_content(self, message: Message) -> str:
        return self._message_shown(message).content

    @admin.display(description="citations")
    def shown_citations(self, message: Message) -> str:
        return _as_json(self._message_shown(message).citations)

    @admin.display(description="tool calls")
    def shown_tool_calls(self, message: Message) -> str:
        return _as_json(self._message_shown(message).tool_calls)

    @admin.display(description="cards")
    def shown_cards(self, message: Message) -> str:
        return _as_json(self._message_shown(message).cards)


@admin.register(Conversation)
class ConversationAdmin(_SuperuserReadOnly, admin.ModelAdmin[Conversation]):
    list_display = ["id", "title", "owner", "customer", "updated_at"]
    list_filter = ["updated_at"]
    # Titles are encrypted (assistant.models): searched by owner only.
    search_fields = ["owner__username"]
    readonly_fields = ["owner", "title", "customer", "created_at", "updated_at"]
    inlines = [MessageInline]
    list_select_related = ["owner", "customer"]


HANDOFF_FIELDS = [
    "conversation", "reason", "customer", "submission", "region", "status", "assignee",
    "created_by", "notes", "created_at", "updated_at", "resolved_at",
]  # fmt: skip


@admin.register(Handoff)
class HandoffAdmin(_SuperuserReadOnly, admin.ModelAdmin[Handoff]):
    list_display = ["id", "status", "region", "customer", "assignee", "created_at"]
    list_filter = ["status", "region"]
    fields = tuple(HANDOFF_FIELDS)
    readonly_fields = HANDOFF_FIELDS
    list_select_related = ["region", "customer", "assignee"]


@admin.register(Feedback)
class FeedbackAdmin(_SuperuserReadOnly, admin.ModelAdmin[Feedback]):
    """The message is named by its id in the list, and shown as the superuser may read it."""

    list_display = ["id", "message_id", "user", "helpful", "created_at"]
    list_filter = ["helpful"]
    readonly_fields = ["message_id", "message_shown", "user", "helpful", "comment", "created_at"]
    fields = tuple(readonly_fields)
    list_select_related = ["user"]

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        feedback = super().get_object(request, object_id, from_field)
        if feedback is not None:
            # the change form's one row, as this reader may see its message
            setattr(feedback, "shown_to_reader", _shown_to(request.user, feedback.message))  # noqa: B010
        return feedback

    @admin.display(description="message")
    def message_shown(self, feedback: Feedback) -> str:
        shown: ShownMessage | None = getattr(feedback, "shown_to_reader", None)
        return shown.content if shown is not None else ""
