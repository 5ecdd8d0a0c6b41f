"""Feedback on answers: helpful or not, with an optional comment; one per person and answer."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction

from assistant.models import Feedback, Message
from assistant.permissions import can_give_feedback, conversations_visible_to
from portal.services import audit_event_record
from portal.types import AnyUser

MAX_COMMENT_CHARS = 2000


@transaction.atomic
def feedback_record(
    *, user: AnyUser, message: Message, helpful: bool, comment: str = ""
) -> Feedback:
    """Record (or change) ``user``'s feedback on an answer of their own conversation."""
    message = Message.objects.select_related("conversation").get(
        pk=message.pk, conversation__in=conversations_visible_to(user)
    )
    if not can_give_feedback(user, message):
        raise PermissionDenied("Only the person who asked may rate this answer.")
    comment = (comment or "").strip()[:MAX_COMMENT_CHARS]
    feedback, _ = Feedback.objects.select_for_update().get_or_create(
        message=message, user=user, defaults={"helpful": helpful, "comment": comment}
    )
    feedback.helpful = helpful
    feedback.comment = comment
    feedback.full_clean()
    feedback.save()
    audit_event_record(
        action="assistant.feedback",
        actor=user,
        target=message,
        details={"helpful": helpful, "comment": comment},
    )
    return feedback
