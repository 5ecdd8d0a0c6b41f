"""Shapes of the assistant API; lookups of what a user may touch live in the views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assistant.models import Conversation, Feedback, Handoff, Message
from assistant.permissions import can_post_to_conversation
from assistant.presenters.shown import messages_shown

# Plain strings, not enums: a "status" enum (documents) and a "role" one would collide in
# the schema's component names (see knowledge/api/serializers.py).
_HANDOFF_STATUS_HELP = "`open`, `assigned` or `resolved`"
_HANDOFF_STATUSES = ["open", "assigned", "resolved"]


class FeedbackSerializer(serializers.ModelSerializer[Feedback]):
    message = serializers.IntegerField(source="message_id", read_only=True)

    class Meta:
        model = Feedback
        fields = ["id", "message", "helpful", "comment", "created_at"]
        read_only_fields = fields


class FeedbackInputSerializer(serializers.Serializer[Any]):
    helpful = serializers.BooleanField()
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Up to 2000 characters."
    )


class ToolCallSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    arguments = serializers.DictField(help_text="What the model (or your command) asked for.")
    ok = serializers.BooleanField()
    summary = serializers.CharField(help_text="What was done, or why it was refused.")


class MessageSerializer(serializers.ModelSerializer[Message]):
    # What the reader is shown of the message (assistant.presenters.shown, the same as the
    # portal's pages): citations and cards in the shapes of assistant/answering/types.py,
    # as this reader may see them. The view sets ``shown``; else it is worked out here.
    role = serializers.CharField(help_text="`user` or `assistant`")
    content = serializers.CharField(
        source="shown.content",
        help_text="Markdown (the question as typed, or the answer); for an answer drawing on "
        "sources you may not read (a hand-off you read), a note that it is hidden.",
    )
    content_html = serializers.CharField(
        source="shown.content_html",
        help_text="Sanitized HTML of an answer, safe to insert as HTML; empty for questions.",
    )
    redacted = serializers.BooleanField(
        source="shown.redacted",
        help_text="True when the answer drew on sources you may not read: it is hidden.",
    )
    citations = serializers.ListField(
        source="shown.citations",
        child=serializers.DictField(),
        help_text='Checked citations: {"n", "type": "chunk", "chunk_id", "document_id", '
        '"version", "page", "title"} or {"n", "type": "customer", "customer_id", "title"}; '
        "`n` is the [n] marker in the answer. A reader other than the asker gets only "
        "those they may open.",
    )
    cards = serializers.ListField(
        source="shown.cards",
        child=serializers.DictField(),
        help_text="What comes with the answer besides text, by `type`: `prefill` (a draft "
        "submission), `handoff`, `customer` (as you may see the customer now: `visible`, "
        "`tax_id` and `date_of_birth` masked for your role), `notice` (e.g. a refused tool "
        "call).",
    )
    tool_calls = ToolCallSerializer(source="shown.tool_calls", many=True)
    feedback = serializers.SerializerMethodField(
        help_text="Your feedback on this answer; null for questions and when you gave none."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "content_html",
            "redacted",
            "citations",
            "cards",
            "tool_calls",
            "model_name",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "error",
            "created_at",
            "feedback",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Message) -> dict[str, Any]:
        if not hasattr(instance, "shown"):
            request = self.context.get("request")
            user = request.user if request is not None else AnonymousUser()
            shown = messages_shown(user, instance.conversation, [instance])
            instance.shown = shown[instance.pk]  # type: ignore[attr-defined]
        return super().to_representation(instance)

    @extend_schema_field(FeedbackSerializer(allow_null=True))
    def get_feedback(self, message: Message) -> dict[str, Any] | None:
        if message.role != "assistant":
            return None
        rows = getattr(message, "viewer_feedback", None)  # prefetched by the view
        if rows is None:
            user = getattr(self.context.get("request"), "user", None)
            if user is None or not user.is_authenticated:
                return None
            rows = list(Feedback.objects.filter(message_id=message.pk, user=user))
        return FeedbackSerializer(rows[0]).data if rows else None


class HandoffSerializer(serializers.ModelSerializer[Handoff]):
    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    customer = serializers.IntegerField(source="customer_id", read_only=True, allow_null=True)
    submission = serializers.IntegerField(
        source="submission_id",
        read_only=True,
        allow_null=True,
        help_text="The draft the assistant pre-filled in this conversation, if any.",
    )
    status = serializers.CharField(help_text=_HANDOFF_STATUS_HELP)
    region = serializers.CharField(
        source="region.code", read_only=True, allow_null=True, help_text="Whose queue: a region."
    )
    assignee = serializers.CharField(
        source="assignee.get_username", read_only=True, allow_null=True
    )
    created_by = serializers.CharField(
        source="created_by.get_username", read_only=True, allow_null=True
    )

    class Meta:
        model = Handoff
        fields = [
            "id",
            "conversation",
            "reason",
            "customer",
            "submission",
            "status",
            "region",
            "assignee",
            "created_by",
            "notes",
            "created_at",
            "updated_at",
            "resolved_at",
        ]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    customer = serializers.IntegerField(source="customer_id", read_only=True, allow_null=True)
    can_post = serializers.SerializerMethodField(
        help_text="Whether you may ask in it (false for a supervisor reading a hand-off)."
    )

    class Meta:
        model = Conversation
        fields = ["id", "title", "owner", "customer", "can_post", "created_at", "updated_at"]
        read_only_fields = fields

    def get_can_post(self, conversation: Conversation) -> bool:
        request = self.context.get("request")
        return can_post_to_conversation(getattr(request, "user", None), conversation)


class ConversationDetailSerializer(ConversationSerializer):
    # The view sets these from the selectors (what the viewer may read, in one query each).
    messages = MessageSerializer(
        source="viewer_messages", many=True, read_only=True, help_text="Oldest first."
    )
    handoffs = HandoffSerializer(
        source="viewer_handoffs", many=True, read_only=True, help_text="Those you may read."
    )

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages", "handoffs"]
        read_only_fields = fields


class ConversationCreateSerializer(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    customer = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Id of a customer you may see, to talk about (optional).",
    )


class MessageCreateSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="The question, or a command (`/help`); up to ASSISTANT_MAX_QUESTION_CHARS "
        "characters (2000 by default).",
    )
    stream = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Answer as server-sent events (`text/event-stream`) instead of JSON.",
    )


class MessageStreamQuerySerializer(serializers.Serializer[Any]):
    stream = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Same as `stream` in the body (either one turns streaming on).",
    )


class MessageExchangeSerializer(serializers.Serializer[Any]):
    question = MessageSerializer()
    answer = MessageSerializer(
        help_text="`error` is set (and the question kept) when the language model failed."
    )


class HandoffListQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=_HANDOFF_STATUSES, required=False)


class HandoffCreateSerializer(serializers.Serializer[Any]):
    conversation = serializers.IntegerField(help_text="Id of your conversation.")
    reason = serializers.CharField(
        allow_blank=True, help_text="Why this needs a person (up to 2000 characters)."
    )


class HandoffAssignSerializer(serializers.Serializer[Any]):
    assignee = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=150,
        help_text="Username or id of a supervisor of the hand-off's region; yourself when "
        "left out.",
    )


class HandoffResolveSerializer(serializers.Serializer[Any]):
    notes = serializers.CharField(allow_blank=True, help_text="What was done (required).")
