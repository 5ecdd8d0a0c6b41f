"""Conversations: started by a person who may use the assistant."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q

from assistant.models import Conversation
from knowledge.customers.selectors import customers_visible_to
from portal.crypto import ERASED
from portal.permissions import Action, can
from portal.services import audit_event_record
from portal.types import AnyUser, account_of


@transaction.atomic
def conversation_create(*, owner: AnyUser, title: str = "", customer: Any = None) -> Conversation:
    """Start a conversation owned by ``owner``, optionally about a customer they may see."""
    if not can(owner, Action.ASK_ASSISTANT):
        raise PermissionDenied("You may not use the assistant.")
    if customer is not None:
        pk = customer if isinstance(customer, int) else customer.pk
        # A customer the owner may not see raises DoesNotExist like a missing one.
        customer = customers_visible_to(owner).get(pk=pk)
    conversation = Conversation(
        owner=account_of(owner), title=title.strip()[:200], customer=customer
    )
    conversation.full_clean()
    conversation.save()
    audit_event_record(
        action="assistant.conversation_create",
        actor=owner,
        target=conversation,
        details={"customer_id": getattr(customer, "pk", None)},
    )
    return conversation


# --- retention (portal.records.retention, through the registry) --------------------------


def conversations_expired(cutoff: Any, holds: Any) -> Any:
    """Conversations untouched since ``cutoff``, none under a legal hold (on it, its owner
    or its customer) and none with a hand-off still open."""
    from django.db.models import Q

    from assistant.models import HandoffStatus

    held_customers = holds.of("customer")
    # A customer is in a conversation by its focus, by a hand-off about them, or as a
    # record put before the model in any of its answers.
    about_held = Q(customer_id__in=held_customers) | Q(handoffs__customer_id__in=held_customers)
    for customer_id in sorted(held_customers):
        about_held |= Q(messages__source_record_ids__contains=[{"id": customer_id}])
    return (
        Conversation.objects.filter(updated_at__lt=cutoff)
        .exclude(pk__in=holds.of("conversation"))
        .exclude(owner_id__in=holds.of("user"))
        .exclude(pk__in=Conversation.objects.filter(about_held).values("pk"))
        .exclude(handoffs__submission_id__in=holds.of("submission"))
        .exclude(handoffs__status__in=[HandoffStatus.OPEN, HandoffStatus.ASSIGNED])
    )


def conversations_purge(cutoff: Any, holds: Any, batch: int) -> int:
    """Delete a batch of expired conversations with their messages, feedback and hand-offs
    (the audit trail keeps its events: fingerprints, not the text)."""
    ids = list(conversations_expired(cutoff, holds).values_list("pk", flat=True)[:batch])
    Conversation.objects.filter(pk__in=ids).delete()
    return len(ids)


# --- erasure of a customer (portal.records.erasure, through the registry) ------------------

ERASURE_CLASSES = {
    "conversations": "Conversations about the customer (their titles)",
    "messages": "Questions and answers about the customer, with their sources, tools and "
    "cards (in any conversation whose answers were given the customer's record)",
    "handoffs": "Hand-offs about the customer (reasons and notes)",
    "feedback": "Feedback comments on those answers",
}


def _concerned(customer_id: int) -> Any:
    """The conversations that concern the customer: focused on them, with a hand-off about
    them, or with an answer that was given the customer's record. (What people typed about
    a customer without the assistant fetching their record is not found: it is encrypted
    text, not a link.)"""
    from assistant.models import Handoff, Message

    return Conversation.objects.filter(
        Q(customer_id=customer_id)
        | Q(pk__in=Handoff.objects.filter(customer_id=customer_id).values("conversation_id"))
        | Q(
            pk__in=Message.objects.filter(
                source_record_ids__contains=[{"type": "customer", "id": customer_id}]
            ).values("conversation_id")
        )
    )


def conversations_erase(customer_id: int) -> dict[str, int]:
    """Overwrite the text of every conversation that concerns the customer (all of it: an
    answer about them quotes them, the questions around it name them) and of the hand-offs
    about them. Who, when, statuses and the lineage's ids and hashes stay."""
    from assistant.models import Feedback, Handoff, Message

    ids = list(_concerned(customer_id).select_for_update(no_key=True).values_list("pk", flat=True))
    Conversation.objects.filter(pk__in=ids).update(title="")
    for pk, lineage in Message.objects.filter(conversation_id__in=ids).values_list("pk", "lineage"):
        # The SHA-256 of a customer record's text would confirm a guess of it: dropped.
        sources = (lineage or {}).get("sources") or []
        if any(source.get("kind") == "customer" for source in sources):
            for source in sources:
                if source.get("kind") == "customer":
                    source["sha256"] = ""
            Message.objects.filter(pk=pk).update(lineage=lineage)
    messages = Message.objects.filter(conversation_id__in=ids).update(
        content=ERASED,
        content_html=f"<p>{ERASED}</p>",
        citations=[],
        tool_calls=[],
        cards=[],
        source_texts=[],
    )
    feedback = (
        Feedback.objects.filter(message__conversation_id__in=ids)
        .exclude(comment="")
        .update(comment="")
    )
    handoffs = Handoff.objects.filter(
        Q(customer_id=customer_id) | Q(conversation_id__in=ids)
    ).update(reason=ERASED, notes="")
    return {
        "conversations": len(ids),
        "messages": messages,
        "handoffs": handoffs,
        "feedback": feedback,
    }


def conversations_erasure_blockers(customer_id: int, holds: Any) -> list[str]:
    """Conversations about the customer that a hold keeps (on it or its owner), and open
    hand-offs about them (open work)."""
    from assistant.models import Handoff, HandoffStatus

    concerned = _concerned(customer_id)
    reasons = [
        f"Conversation #{pk} is under a legal hold (on it or its owner)."
        for pk in concerned.filter(
            Q(pk__in=holds.of("conversation")) | Q(owner_id__in=holds.of("user"))
        ).values_list("pk", flat=True)
    ]
    reasons += [
        f"Hand-off #{pk} about this customer is still open: resolve it first."
        for pk in Handoff.objects.filter(
            customer_id=customer_id, status__in=[HandoffStatus.OPEN, HandoffStatus.ASSIGNED]
        ).values_list("pk", flat=True)
    ]
    return reasons
