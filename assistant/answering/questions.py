"""Asking: the question is checked (length, permission, ownership, rate limit) and stored
before anything streams, so a bad request raises at once (before any streaming response
starts) and nothing the user typed is lost when retrieval or the model fails; then the
pipeline answers it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from assistant.answering.pipeline import answer_events
from assistant.answering.types import AnswerEvent
from assistant.models import Conversation, Message, MessageRole
from assistant.permissions import can_post_to_conversation, conversations_visible_to
from portal.errors import ApplicationError
from portal.permissions import Action, can
from portal.types import AnyUser, User


class RateLimited(ApplicationError):
    status_code = 429


def _check_question(text: str) -> str:
    question = (text or "").strip()
    if not question:
        raise ValidationError({"text": "Enter a question."})
    limit = settings.ASSISTANT_MAX_QUESTION_CHARS
    if len(question) > limit:
        raise ValidationError({"text": f"The question is longer than {limit} characters."})
    return question


def _rate_limit_check(user: User) -> None:
    """At most ASSISTANT_RATE_LIMIT_PER_MINUTE questions per user in any 60 seconds (the
    caller holds the user's row lock, so concurrent requests are counted one by one)."""
    limit = settings.ASSISTANT_RATE_LIMIT_PER_MINUTE
    now = timezone.now()
    recent = list(
        Message.objects.filter(
            conversation__owner_id=user.pk,
            role=MessageRole.USER,
            created_at__gt=now - timedelta(seconds=60),
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        retry_after = max(1, math.ceil((recent[-1] + timedelta(seconds=60) - now).total_seconds()))
        raise RateLimited(
            f"You have asked {limit} questions in the last minute. "
            f"Wait {retry_after} seconds and ask again; your question was not sent.",
            {"retry_after": retry_after, "limit_per_minute": limit},
        )


def _user_message_store(*, user: User, conversation: Conversation, text: str) -> Message:
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        _rate_limit_check(user)
        message = Message(conversation=conversation, role=MessageRole.USER, content=text)
        message.full_clean()
        message.save()
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
    return message


def answer_stream(*, user: AnyUser, conversation: Conversation, text: str) -> Iterator[AnswerEvent]:
    """Check and store the question, then return the answer's events; the last one is
    ``done`` with the stored assistant ``message`` (``error`` set when the model failed)."""
    if not user.is_authenticated or not can(user, Action.ASK_ASSISTANT):
        raise PermissionDenied("You may not use the assistant.")
    # A forbidden conversation answers like a missing one; a visible one may be read-only.
    conversation = conversations_visible_to(user).get(pk=conversation.pk)
    if not can_post_to_conversation(user, conversation):
        raise PermissionDenied("Only the person who started this conversation may ask in it.")
    question = _check_question(text)
    message = _user_message_store(user=user, conversation=conversation, text=question)
    return answer_events(user, conversation, message)


def answer(*, user: AnyUser, conversation: Conversation, text: str) -> Message:
    """Answer ``text`` in ``conversation`` from what ``user`` may read; the stored answer."""
    final: Message | None = None
    for event in answer_stream(user=user, conversation=conversation, text=text):
        if event.kind == "done":
            final = event.data["message"]
    assert final is not None
    return final
