"""Reads of the assistant app, always starting from what the user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db.models import Case, IntegerField, QuerySet, Value, When

from assistant.models import Conversation, Handoff, HandoffStatus, Message
from assistant.permissions import conversations_visible_to, handoffs_managed_by, handoffs_visible_to
from forms_app.permissions import submissions_owned_by
from portal.types import AnyUser

if TYPE_CHECKING:
    from forms_app.models import FormSubmission


def conversation_list(user: AnyUser) -> QuerySet[Conversation]:
    """The user's own conversations, most recently active first."""
    return conversations_visible_to(user).filter(owner_id=user.pk).order_by("-updated_at", "-id")


def conversation_get(user: AnyUser, conversation_id: int) -> Conversation:
    """One visible conversation (own, or handed off to the user's queue); a forbidden one
    raises DoesNotExist like a missing one."""
    return (
        conversations_visible_to(user).select_related("owner", "customer").get(pk=conversation_id)
    )


def conversation_messages(user: AnyUser, conversation_id: int) -> QuerySet[Message]:
    """The messages of one visible conversation, oldest first."""
    return Message.objects.filter(
        conversation__in=conversations_visible_to(user), conversation_id=conversation_id
    ).order_by("created_at", "id")


def message_get(user: AnyUser, message_id: int) -> Message:
    """One message of a visible conversation; DoesNotExist otherwise."""
    return Message.objects.select_related("conversation").get(
        pk=message_id, conversation__in=conversations_visible_to(user)
    )


def conversation_latest_draft(user: AnyUser, conversation: Conversation) -> FormSubmission | None:
    """The newest submission the assistant pre-filled in ``conversation`` that ``user`` owns."""
    # Cards are encrypted (read in Python, never filtered in SQL).
    stored = (
        Message.objects.filter(conversation=conversation, role="assistant")
        .order_by("-created_at", "-id")
        .values_list("cards", flat=True)
    )
    ids = [
        int(card["submission_id"])
        for cards in cast("list[list[dict[str, Any]]]", list(stored))
        for card in reversed(cards or [])
        if card.get("type") == "prefill" and card.get("submission_id")
    ]
    if not ids:
        return None
    owned = {row.pk: row for row in submissions_owned_by(user).filter(pk__in=ids)}
    return next((owned[pk] for pk in ids if pk in owned), None)


def _handoff_rows(queryset: QuerySet[Handoff]) -> QuerySet[Handoff]:
    return queryset.select_related(
        "conversation", "conversation__owner", "customer", "assignee", "region", "submission"
    )


def handoff_queue(user: AnyUser, *, include_resolved: bool = False) -> QuerySet[Handoff]:
    """The hand-offs of ``user``'s regions: open first, then assigned, oldest first."""
    rows = handoffs_managed_by(user)
    if not include_resolved:
        rows = rows.exclude(status=HandoffStatus.RESOLVED)
    order = Case(
        When(status=HandoffStatus.OPEN, then=Value(0)),
        When(status=HandoffStatus.ASSIGNED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return _handoff_rows(rows).order_by(order, "created_at", "id")


def handoff_queued_get(user: AnyUser, handoff_id: int) -> Handoff:
    """One hand-off of ``user``'s queue, resolved ones included; DoesNotExist otherwise."""
    return handoff_queue(user, include_resolved=True).get(pk=handoff_id)


def handoff_list(user: AnyUser) -> QuerySet[Handoff]:
    """Every hand-off ``user`` may read (their own conversations' and their queue), newest
    first."""
    return _handoff_rows(handoffs_visible_to(user)).order_by("-created_at", "-id")


def handoff_get(user: AnyUser, handoff_id: int) -> Handoff:
    """One readable hand-off; DoesNotExist otherwise."""
    return _handoff_rows(handoffs_visible_to(user)).get(pk=handoff_id)


def handoffs_open_count(user: AnyUser) -> int:
    return handoffs_managed_by(user).filter(status=HandoffStatus.OPEN).count()
