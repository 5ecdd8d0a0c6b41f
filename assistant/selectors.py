"""Reads of the assistant app, always starting from what the user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

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


# --- records for an export (portal.records.export, through the registry) ----------------

CONVERSATION_COLUMNS = (
    "id",
    "owner",
    "customer_id",
    "title",
    "created_at",
    "updated_at",
    "messages",
)


def conversation_records(selection: Any) -> Any:
    """Every conversation of ``selection`` (a ``portal.registry.RecordFilter``: created in
    its period, of its user, of its customer) with its messages: the question, the answer
    as shown, its citations and sources, the tools called, the model. For the export only:
    no policy here, the export's caller must read the audit trail."""
    conversations = Conversation.objects.select_related("owner").order_by("pk")
    conversations = selection.in_period(conversations)
    if selection.user_id:
        conversations = conversations.filter(owner_id=selection.user_id)
    if selection.customer_id:
        customer = selection.customer_id
        # The customer in focus, a hand-off about them, or their record before the model.
        about = Conversation.objects.filter(
            Q(customer_id=customer)
            | Q(handoffs__customer_id=customer)
            | Q(messages__source_record_ids__contains=[{"id": customer}])
        )
        conversations = conversations.filter(pk__in=about.values("pk"))
    for conversation in conversations.iterator(chunk_size=200):
        messages = [
            {
                "id": message.pk,
                "role": message.role,
                "content": message.content,
                "citations": message.citations,
                "source_chunk_ids": message.source_chunk_ids,
                "source_collection_ids": message.source_collection_ids,
                "source_record_ids": message.source_record_ids,
                "tool_calls": message.tool_calls,
                "model_name": message.model_name,
                "lineage": message.lineage,
                "source_texts": message.source_texts,
                "error": message.error,
                "created_at": message.created_at.isoformat(),
            }
            for message in Message.objects.filter(conversation=conversation).order_by("pk")
        ]
        yield {
            "id": conversation.pk,
            "owner": conversation.owner.get_username(),
            "customer_id": conversation.customer_id,
            "title": conversation.title,
            "created_at": conversation.created_at.isoformat(),
            "updated_at": conversation.updated_at.isoformat(),
            "messages": messages,
        }


def handoff_held_submissions(holds: Any) -> dict[str, set[int]]:
    """Submissions a hold reaches through hand-offs (a held conversation's, owner's or
    customer's hand-off links them), and those an open hand-off still needs: kept by the
    retention purge (``portal.registry.HoldExpansion``)."""
    from django.db.models import Q

    reached = Handoff.objects.filter(
        Q(status__in=[HandoffStatus.OPEN, HandoffStatus.ASSIGNED])
        | Q(conversation_id__in=holds.of("conversation"))
        | Q(conversation__owner_id__in=holds.of("user"))
        | Q(customer_id__in=holds.of("customer"))
    ).exclude(submission_id=None)
    return {"submission": set(reached.values_list("submission_id", flat=True))}
