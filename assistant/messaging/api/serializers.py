"""Shapes of the secure message center's API (staff and customer)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from assistant.messaging.models import (
    Category,
    Draft,
    MessageAttachment,
    SecureMessage,
    Thread,
    ThreadStatus,
)
from assistant.messaging.selectors import AGE_FILTERS


class ThreadSerializer(serializers.ModelSerializer[Thread]):
    customer = serializers.SerializerMethodField()
    region = serializers.CharField(source="region.code", read_only=True)
    assignee = serializers.CharField(source="assignee.username", read_only=True, default=None)
    unread = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Thread
        fields = [
            "id",
            "subject",
            "category",
            "status",
            "customer",
            "region",
            "assignee",
            "waiting_since",
            "last_message_at",
            "closed_at",
            "unread",
        ]

    def get_customer(self, thread: Thread) -> dict[str, Any]:
        customer = thread.customer
        return {"id": customer.pk, "number": customer.customer_number, "name": customer.full_name}


class AttachmentSerializer(serializers.ModelSerializer[MessageAttachment]):
    """A file sent with a message; ``url`` downloads it (the same API's rules)."""

    filename = serializers.CharField(source="original_filename", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = MessageAttachment
        fields = ["id", "filename", "content_type", "size_bytes", "sha256", "url"]

    def get_url(self, item: MessageAttachment) -> str:
        return reverse(
            "api:thread_attachment", kwargs={"pk": item.message.thread_id, "attachment_id": item.pk}
        )


class CustomerAttachmentSerializer(AttachmentSerializer):
    def get_url(self, item: MessageAttachment) -> str:
        return reverse(
            "secure_api:thread_attachment",
            kwargs={"pk": item.message.thread_id, "attachment_id": item.pk},
        )


def _attachments_field() -> serializers.ListField:
    """Files sent with a message (multipart/form-data; checked by the service)."""
    return serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        max_length=settings.SECURE_ATTACHMENTS_PER_MESSAGE,
        help_text="Files sent with the message (multipart/form-data): PDF, PNG, JPEG or text.",
    )


class SecureMessageSerializer(serializers.ModelSerializer[SecureMessage]):
    author = serializers.CharField(source="author.username", read_only=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None)
    attachments = AttachmentSerializer(many=True, read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, default=None)

    class Meta:
        model = SecureMessage
        fields = [
            "id",
            "author_kind",
            "author",
            "body",
            "internal",
            "draft",
            "approved_by",
            "form",
            "attachments",
            "auto_sent",
            "review",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "created_at",
            "read_at",
            "retracted_at",
        ]


class SecureDraftSerializer(serializers.ModelSerializer[Draft]):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None)

    class Meta:
        model = Draft
        fields = [
            "id",
            "message",
            "status",
            "body",
            "citations",
            "source_collections",
            "confidence",
            "form_proposal",
            "model_name",
            "error",
            "created_at",
            "ready_at",
            "decided_by",
            "decided_at",
        ]


class ThreadDetailSerializer(ThreadSerializer):
    messages = serializers.SerializerMethodField()
    drafts = serializers.SerializerMethodField()

    class Meta(ThreadSerializer.Meta):
        fields = [*ThreadSerializer.Meta.fields, "messages", "drafts"]

    def get_messages(self, thread: Thread) -> list[dict[str, Any]]:
        return list(SecureMessageSerializer(self.context["messages"], many=True).data)

    def get_drafts(self, thread: Thread) -> list[dict[str, Any]]:
        return list(SecureDraftSerializer(self.context["drafts"], many=True).data)


class ThreadListQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=["", "active", *ThreadStatus.values], required=False, default="active"
    )
    category = serializers.ChoiceField(choices=["", *Category.values], required=False)
    waiting = serializers.ChoiceField(choices=["", *AGE_FILTERS], required=False)
    assigned = serializers.ChoiceField(choices=["", "me", "nobody"], required=False)
    review = serializers.ChoiceField(
        choices=["", "pending"],
        required=False,
        help_text="`pending`: threads with an automatic reply waiting for a supervisor",
    )


def _body() -> serializers.CharField:
    return serializers.CharField(max_length=settings.SECURE_MESSAGE_MAX_CHARS)


class ReplySerializer(serializers.Serializer[Any]):
    body = _body()
    draft = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    form = serializers.SlugField(required=False, allow_blank=True, max_length=64)
    form_transaction = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    seen = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    attachments = _attachments_field()


class NoteSerializer(serializers.Serializer[Any]):
    body = _body()


class AutoReplyReviewSerializer(serializers.Serializer[Any]):
    verdict = serializers.ChoiceField(choices=["fine", "concern"])
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=settings.SECURE_MESSAGE_MAX_CHARS
    )


class AssignSerializer(serializers.Serializer[Any]):
    assignee = serializers.CharField(allow_null=True, max_length=150)


class CustomerThreadSerializer(serializers.ModelSerializer[Thread]):
    """A thread as its customer sees it."""

    unread = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Thread
        fields = ["id", "subject", "category", "status", "last_message_at", "unread"]


class CustomerMessageSerializer(serializers.ModelSerializer[SecureMessage]):
    attachments = CustomerAttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = SecureMessage
        fields = [
            "id",
            "author_kind",
            "auto_sent",
            "body",
            "form",
            "attachments",
            "created_at",
            "read_at",
        ]


class CustomerThreadDetailSerializer(CustomerThreadSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(CustomerThreadSerializer.Meta):
        fields = [*CustomerThreadSerializer.Meta.fields, "messages"]

    def get_messages(self, thread: Thread) -> list[dict[str, Any]]:
        return list(CustomerMessageSerializer(self.context["messages"], many=True).data)


class ThreadStartSerializer(serializers.Serializer[Any]):
    subject = serializers.CharField(max_length=200)
    category = serializers.ChoiceField(choices=Category.values)
    body = _body()
    attachments = _attachments_field()


class CustomerMessageCreateSerializer(serializers.Serializer[Any]):
    body = _body()
    attachments = _attachments_field()
