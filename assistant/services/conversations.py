"""Conversations: started by a person who may use the assistant."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from assistant.models import Conversation
from knowledge.customers.selectors import customers_visible_to
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
