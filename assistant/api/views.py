"""The assistant API: conversations, questions and answers (JSON or server-sent events),
feedback and hand-offs to a person.

Server-sent events and content negotiation: the stream is chosen by ``stream`` (body or
query), never by the ``Accept`` header, and it is a ``StreamingHttpResponse`` that no DRF
renderer touches. ``MessageCreateApi`` therefore bypasses negotiation: whatever the client
accepts (``text/event-stream`` included, which would otherwise get 406), everything else it
answers (the JSON answer and every error) is JSON in the one error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Prefetch, Q, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.answering import answer_stream
from assistant.answering.sse import event_stream_response
from assistant.api.serializers import (
    ConversationCreateSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    FeedbackInputSerializer,
    FeedbackSerializer,
    HandoffAssignSerializer,
    HandoffCreateSerializer,
    HandoffListQuerySerializer,
    HandoffResolveSerializer,
    HandoffSerializer,
    MessageCreateSerializer,
    MessageExchangeSerializer,
    MessageSerializer,
    MessageStreamQuerySerializer,
)
from assistant.models import Conversation, Feedback, Handoff, HandoffStatus, Message
from assistant.presenters import messages_shown
from assistant.selectors import (
    conversation_get,
    conversation_list,
    conversation_messages,
    handoff_list,
    handoff_queued_get,
    message_get,
)
from assistant.services import (
    conversation_create,
    feedback_record,
    handoff_assign,
    handoff_create,
    handoff_resolve,
)
from portal.api.permissions import CanUseApi, requires
from portal.api.shortcuts import visible_or_not_found
from portal.permissions import Action
from portal.types import AnyUser, User, account_of
from portal.validation import parse_id

logger = logging.getLogger(__name__)

CanAskAssistant = requires(Action.ASK_ASSISTANT)
CanManageHandoffs = requires(Action.MANAGE_HANDOFFS)
TAGS = ["assistant"]
EVENT_STREAM = "text/event-stream"

# The same words for a missing record and one the caller may not see. A 404 says
# "No such <what>." (visible_or_not_found); these are for ids in a request body (400).
NO_SUCH_CONVERSATION = "No such conversation."
NO_SUCH_CUSTOMER = "No such customer."
BAD_ASSIGNEE = "That person cannot take hand-offs of this region."

_ERRORS = {
    400: OpenApiResponse(description="Validation error: {message, extra: {fields}}"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not allowed"),
}
_NOT_FOUND = {404: OpenApiResponse(description="Not found, or not visible to you")}
_RATE_LIMITED = {
    429: OpenApiResponse(
        description='Too many questions: {"message", "extra": {"retry_after", '
        '"limit_per_minute"}} and a Retry-After header (seconds); the question is not stored.'
    )
}

# One server-sent event (OpenAPI describes a text/event-stream body event by event): its
# name and its data, one line of JSON (described per event in the operation's description).
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["question", "delta", "tool", "done", "error"]},
        "data": {"type": "string", "description": "JSON"},
    },
    "required": ["event", "data"],
}

_SSE_EXAMPLE = (
    "event: question\n"
    'data: {"message_id": 41}\n\n'
    "event: delta\n"
    'data: {"text": "The annual card fee "}\n\n'
    "event: tool\n"
    'data: {"name": "search_knowledge", "ok": true, "summary": "searched: 4 passages"}\n\n'
    "event: done\n"
    'data: {"id": 42, "role": "assistant", "content": "...", "content_html": "...", ...}\n\n'
)


# Forbidden answers like missing: "No such conversation." / "No such hand-off."
_conversation_or_404 = visible_or_not_found(conversation_get, "conversation")
_queued_handoff_or_404 = visible_or_not_found(handoff_queued_get, "hand-off")


def _with_viewer_feedback(messages: QuerySet[Message], user: AnyUser) -> QuerySet[Message]:
    """Each message with the viewer's own feedback (one query for all of them)."""
    return messages.prefetch_related(
        Prefetch(
            "feedback",
            queryset=Feedback.objects.filter(user=account_of(user)),
            to_attr="viewer_feedback",
        )
    )


def _message_data(request: Request, message: Message) -> dict[str, Any]:
    """A message just stored: nobody has given feedback on it yet."""
    if not hasattr(message, "viewer_feedback"):
        message.viewer_feedback = []  # type: ignore[attr-defined]
    return MessageSerializer(message, context={"request": request}).data


class ConversationListCreateApi(generics.GenericAPIView[Conversation]):
    """Your conversations with the assistant, most recently active first; start a new one."""

    permission_classes = [CanAskAssistant]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)
    serializer_class = ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        return conversation_list(self.request.user).select_related("owner")

    @extend_schema(
        summary="List my conversations",
        tags=TAGS,
        responses={200: ConversationSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        data = ConversationSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Start a conversation",
        tags=TAGS,
        request=ConversationCreateSerializer,
        responses={201: ConversationSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        payload = ConversationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            conversation = conversation_create(
                owner=request.user,
                title=payload.validated_data["title"],
                customer=payload.validated_data["customer"],
            )
        except ObjectDoesNotExist as missing:
            # An invisible customer reads exactly like a missing one.
            raise exceptions.ValidationError({"customer": [NO_SUCH_CUSTOMER]}) from missing
        return Response(
            ConversationSerializer(conversation, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class ConversationDetailApi(APIView):
    """One conversation with its messages and hand-offs: yours, or (read-only) one handed off
    to your queue."""

    # Visibility is the selector's: a supervisor reads hand-offs of their queue.
    permission_classes = [CanUseApi]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)

    @extend_schema(
        summary="Get a conversation with its messages",
        tags=TAGS,
        responses={200: ConversationDetailSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = _conversation_or_404(request.user, pk)
        messages = list(
            _with_viewer_feedback(conversation_messages(request.user, pk), request.user)
        )
        # What this reader is shown of each message (as on the portal's page).
        shown = messages_shown(request.user, conversation, messages)
        for message in messages:
            message.shown = shown[message.pk]  # type: ignore[attr-defined]
        conversation.viewer_messages = messages  # type: ignore[attr-defined]
        conversation.viewer_handoffs = list(  # type: ignore[attr-defined]
            handoff_list(request.user).filter(conversation_id=pk).order_by("created_at", "id")
        )
        return Response(
            ConversationDetailSerializer(conversation, context={"request": request}).data
        )


class MessageCreateApi(APIView):
    """Ask in your conversation: the question and the answer as JSON, or the answer as it
    is written, as server-sent events."""

    permission_classes = [CanAskAssistant]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # See the module docstring: JSON for everything but the stream itself.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        summary="Ask a question",
        tags=TAGS,
        parameters=[MessageStreamQuerySerializer],
        request=MessageCreateSerializer,
        responses={
            (201, "application/json"): MessageExchangeSerializer,
            (200, EVENT_STREAM): OpenApiResponse(
                response=_SSE_EVENT,
                description="With `stream`: server-sent events `question` {message_id}, "
                "`delta` {text} (raw model text: display as text, never as HTML), `tool` "
                "{name, ok, summary}, then `done` with the stored answer (as in the JSON "
                "answer); `error` {message, extra} only if the portal itself failed "
                "mid-stream.",
                examples=[
                    OpenApiExample(
                        "stream", value=_SSE_EXAMPLE, media_type=EVENT_STREAM, response_only=True
                    )
                ],
            ),
            **_ERRORS,
            **_NOT_FOUND,
            **_RATE_LIMITED,
        },
    )
    def post(self, request: Request, pk: int) -> Response | StreamingHttpResponse:
        conversation = _conversation_or_404(request.user, pk)
        payload = MessageCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        query = MessageStreamQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stream = payload.validated_data["stream"] or query.validated_data["stream"]
        # Raises before anything is streamed: validation 400, rate limit 429, read-only
        # conversation 403 all go through the exception handler.
        events = visible_or_not_found(answer_stream, "conversation")(
            user=request.user, conversation=conversation, text=payload.validated_data["text"]
        )
        if stream:
            return event_stream_response(events, lambda message: _message_data(request, message))
        question: Message | None = None
        final: Message | None = None
        for event in events:
            if event.kind == "question":
                question = message_get(request.user, event.data["message_id"])
            elif event.kind == "done":
                final = event.data["message"]
        assert question is not None and final is not None  # the service always sends both
        body = {
            "question": _message_data(request, question),
            "answer": _message_data(request, final),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class MessageFeedbackApi(APIView):
    """Rate an answer in your conversation (helpful or not, with a comment); again to change."""

    permission_classes = [CanAskAssistant]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)

    @extend_schema(
        summary="Give feedback on an answer",
        tags=TAGS,
        request=FeedbackInputSerializer,
        responses={
            201: FeedbackSerializer,
            200: OpenApiResponse(FeedbackSerializer, description="Your earlier feedback, changed"),
            **_ERRORS,
            **_NOT_FOUND,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        message = visible_or_not_found(message_get, "message")(request.user, pk)
        payload = FeedbackInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        had_feedback = Feedback.objects.filter(
            message=message, user=account_of(request.user)
        ).exists()
        feedback = visible_or_not_found(feedback_record, "message")(
            user=request.user,
            message=message,
            helpful=payload.validated_data["helpful"],
            comment=payload.validated_data["comment"],
        )
        return Response(
            FeedbackSerializer(feedback).data,
            status=status.HTTP_200_OK if had_feedback else status.HTTP_201_CREATED,
        )


class HandoffListCreateApi(generics.GenericAPIView[Handoff]):
    """Hand-offs you may read (of your conversations, and your queue as a supervisor), newest
    first; hand one of your conversations to a person."""

    permission_classes = [CanUseApi]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)
    serializer_class = HandoffSerializer

    def get_permissions(self) -> Sequence[Any]:
        if self.request.method == "POST":
            return [CanAskAssistant()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[Handoff]:
        query = HandoffListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        rows = handoff_list(self.request.user)
        if query.validated_data.get("status"):
            rows = rows.filter(status=query.validated_data["status"])
        return rows

    @extend_schema(
        summary="List hand-offs",
        tags=TAGS,
        parameters=[HandoffListQuerySerializer],
        responses={200: HandoffSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(HandoffSerializer(page, many=True).data)

    @extend_schema(
        summary="Hand a conversation to a person",
        tags=TAGS,
        request=HandoffCreateSerializer,
        description="Lands in the queue of the customer's region (else yours). While the "
        "conversation has an unresolved hand-off, that one is returned with 200 instead of "
        "a second one being created.",
        responses={
            201: HandoffSerializer,
            200: OpenApiResponse(HandoffSerializer, description="The unresolved hand-off"),
            **_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        payload = HandoffCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            conversation = conversation_get(request.user, payload.validated_data["conversation"])
        except Conversation.DoesNotExist as missing:
            raise exceptions.ValidationError({"conversation": [NO_SUCH_CONVERSATION]}) from missing
        unresolved = (
            handoff_list(request.user)
            .filter(conversation_id=conversation.pk)
            .exclude(status=HandoffStatus.RESOLVED)
            .values_list("pk", flat=True)
            .first()
        )
        handoff = handoff_create(
            actor=request.user, conversation=conversation, reason=payload.validated_data["reason"]
        )
        handoff = handoff_list(request.user).get(pk=handoff.pk)
        created = handoff.pk != unresolved
        return Response(
            HandoffSerializer(handoff).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _assignee(value: str) -> User | None:
    """The active user named by username or id; the service checks they may take it."""
    value = value.strip()
    if not value:
        return None
    pk = parse_id(value)
    lookup = Q(username=value) | Q(pk=pk) if pk is not None else Q(username=value)
    user = get_user_model().objects.filter(lookup, is_active=True).order_by("pk").first()
    if user is None:
        raise exceptions.ValidationError({"assignee": [BAD_ASSIGNEE]})
    return user


class HandoffAssignApi(APIView):
    """Take a hand-off of your queue, or give it to another supervisor of its region."""

    permission_classes = [CanManageHandoffs]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)

    @extend_schema(
        summary="Assign a hand-off",
        tags=TAGS,
        request=HandoffAssignSerializer,
        responses={200: HandoffSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        handoff = _queued_handoff_or_404(request.user, pk)
        payload = HandoffAssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        handoff = visible_or_not_found(handoff_assign, "hand-off")(
            actor=request.user,
            handoff=handoff,
            assignee=_assignee(payload.validated_data["assignee"]),
        )
        return Response(HandoffSerializer(_queued_handoff_or_404(request.user, handoff.pk)).data)


class HandoffResolveApi(APIView):
    """Close a hand-off of your queue with what was done."""

    permission_classes = [CanManageHandoffs]
    api_scope = "assistant"  # what an API token needs here (portal.api.permissions)

    @extend_schema(
        summary="Resolve a hand-off",
        tags=TAGS,
        request=HandoffResolveSerializer,
        responses={200: HandoffSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        handoff = _queued_handoff_or_404(request.user, pk)
        payload = HandoffResolveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        handoff = visible_or_not_found(handoff_resolve, "hand-off")(
            actor=request.user, handoff=handoff, notes=payload.validated_data["notes"]
        )
        return Response(HandoffSerializer(_queued_handoff_or_404(request.user, handoff.pk)).data)
