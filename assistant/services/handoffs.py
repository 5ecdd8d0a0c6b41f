"""Hand-offs to a person: created from a conversation (tool, button or API), taken and
resolved by supervisors of its queue (the region, or the central queue)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from assistant.models import Conversation, Handoff, HandoffStatus
from assistant.permissions import (
    can_assign_handoff,
    can_escalate,
    can_resolve_handoff,
    conversations_visible_to,
    handoffs_managed_by,
)
from assistant.selectors import conversation_latest_draft
from forms_app.permissions import submissions_owned_by
from portal.audit import typed
from portal.permissions import Action, can, region_ids_of
from portal.selectors import region_first_of
from portal.services import audit_event_record
from portal.types import AnyUser, account_of

MAX_REASON_CHARS = 2000


def _region_of(conversation: Conversation, customer: Any) -> Any:
    """The hand-off's queue: the customer's region, else the requester's (the first by code);
    None, the central queue (``assistant.permissions``), for a requester without a region
    (compliance, admin, content manager) when no customer is in focus."""
    if customer is not None:
        return customer.region
    ids = region_ids_of(conversation.owner)
    if not ids:
        return None
    return region_first_of(list(ids))


@transaction.atomic
def handoff_create(
    *,
    actor: AnyUser,
    conversation: Conversation,
    reason: str,
    customer: Any = None,
    submission: Any = None,
) -> Handoff:
    """Hand ``conversation`` to a person with its customer and ``submission`` (by default
    the newest draft pre-filled in it); an open hand-off of it is returned, not doubled."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this needs a person."})
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError({"reason": f"Keep the reason under {MAX_REASON_CHARS} characters."})
    conversation = (
        conversations_visible_to(actor).select_for_update(of=("self",)).get(pk=conversation.pk)
    )
    if not can_escalate(actor, conversation):
        raise PermissionDenied("Only the person who asked may hand this conversation off.")
    existing = conversation.handoffs.exclude(status=HandoffStatus.RESOLVED).first()
    if existing is not None:
        return existing
    if submission is None:
        submission = conversation_latest_draft(actor, conversation)
    elif not submissions_owned_by(actor).filter(pk=submission.pk).exists():
        raise ValidationError({"submission": "Only a submission of your own can go along."})
    customer = customer if customer is not None else conversation.customer
    handoff = Handoff(
        conversation=conversation,
        reason=reason,
        customer=customer,
        submission=submission,
        region=_region_of(conversation, customer),
        created_by=account_of(actor),
    )
    handoff.full_clean()
    handoff.save()
    audit_event_record(
        action="assistant.handoff_create",
        actor=actor,
        target=handoff,
        details={
            "conversation_id": conversation.pk,
            "customer_id": getattr(customer, "pk", None),
            "submission_id": getattr(submission, "pk", None),
            "region": getattr(handoff.region, "code", None),
            "reason": typed(reason),  # the requester's words: a fingerprint (portal.audit)
        },
    )
    return handoff


def _locked(actor: AnyUser, handoff: Handoff) -> Handoff:
    try:
        return handoffs_managed_by(actor).select_for_update(of=("self",)).get(pk=handoff.pk)
    except Handoff.DoesNotExist:
        raise Handoff.DoesNotExist("No such hand-off.") from None


@transaction.atomic
def handoff_assign(*, actor: AnyUser, handoff: Handoff, assignee: Any = None) -> Handoff:
    """Take a hand-off (or give it to another supervisor of its region)."""
    handoff = _locked(actor, handoff)
    if not can_assign_handoff(actor, handoff):
        raise ValidationError("This hand-off is resolved.")
    assignee = assignee or actor
    if assignee.pk != actor.pk:
        candidate = get_user_model().objects.filter(pk=assignee.pk, is_active=True).first()
        if candidate is None or not (
            can(candidate, Action.MANAGE_HANDOFFS)
            and handoffs_managed_by(candidate).filter(pk=handoff.pk).exists()
        ):
            raise ValidationError({"assignee": "That person cannot take hand-offs of this region."})
        assignee = candidate
    previous = handoff.assignee_id
    handoff.assignee = assignee
    handoff.status = HandoffStatus.ASSIGNED
    handoff.full_clean()
    handoff.save()
    audit_event_record(
        action="assistant.handoff_assign",
        actor=actor,
        target=handoff,
        details={"assignee": assignee.get_username(), "previous_assignee_id": previous},
    )
    return handoff


@transaction.atomic
def handoff_resolve(*, actor: AnyUser, handoff: Handoff, notes: str = "") -> Handoff:
    """Close a hand-off with what was done."""
    handoff = _locked(actor, handoff)
    if not can_resolve_handoff(actor, handoff):
        raise ValidationError("This hand-off is already resolved.")
    notes = (notes or "").strip()
    if not notes:
        raise ValidationError({"notes": "Write what was done before resolving."})
    if handoff.assignee_id is None:
        handoff.assignee = account_of(actor)
    handoff.status = HandoffStatus.RESOLVED
    handoff.notes = notes
    handoff.resolved_at = timezone.now()
    handoff.full_clean()
    handoff.save()
    audit_event_record(
        action="assistant.handoff_resolve",
        actor=actor,
        target=handoff,
        details={"notes": notes},
    )
    return handoff


@transaction.atomic
def handoffs_return_of_leaver(user: Any, actor_label: str) -> int:
    """Return the hand-offs assigned to ``user`` to their region's queue (open, nobody
    assigned): their account was deactivated. Audited as ``assistant.handoff_returned``
    (actor: ``actor_label``). Returns how many."""
    returned = 0
    for handoff in Handoff.objects.select_for_update().filter(
        assignee=user, status=HandoffStatus.ASSIGNED
    ):
        handoff.assignee = None
        handoff.status = HandoffStatus.OPEN
        handoff.save(update_fields=["assignee", "status", "updated_at"])
        audit_event_record(
            action="assistant.handoff_returned",
            actor_username=actor_label,
            target=handoff,
            details={"previous_assignee": user.get_username(), "reason": "account_deactivated"},
        )
        returned += 1
    return returned
