"""Read-only admin of conversations, hand-offs and feedback, for superusers only.

Conversations hold customer data as the asker saw it; the portal shows them to their owner
(and hand-offs to supervisors). The admin is for investigating, never for editing: answers
and hand-offs change only through the assistant's services, which audit every change.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from assistant.models import Conversation, Feedback, Handoff, Message


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


MESSAGE_FIELDS = [
    "role", "content", "citations", "source_chunk_ids", "source_record_ids", "tool_calls",
    "cards", "model_name", "prompt_tokens", "completion_tokens", "latency_ms", "error",
    "created_at",
]  # fmt: skip


class MessageInline(_SuperuserReadOnly, admin.StackedInline[Message, Conversation]):
    model = Message
    extra = 0
    fields = tuple(MESSAGE_FIELDS)
    readonly_fields = MESSAGE_FIELDS


@admin.register(Conversation)
class ConversationAdmin(_SuperuserReadOnly, admin.ModelAdmin[Conversation]):
    list_display = ["id", "title", "owner", "customer", "updated_at"]
    list_filter = ["updated_at"]
    search_fields = ["title", "owner__username"]
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
    list_display = ["id", "message", "user", "helpful", "created_at"]
    list_filter = ["helpful"]
    readonly_fields = ["message", "user", "helpful", "comment", "created_at"]
