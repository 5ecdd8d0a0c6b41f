"""Who sees and handles which secure threads, as SQL filters on ``portal.permissions``.

- A customer: the threads of their own customer record (``own_customer``), never internal
  notes, never a message the bank withdrew.
- Staff who handle messages (agents, supervisors, compliance): the threads of their regions'
  customers, by the customer's current region (``region_filter``: compliance sees every
  region).
- Anyone else: nothing.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from assistant.messaging.models import SecureMessage, Thread
from knowledge.customers.selectors import own_customer
from portal.permissions import Action, can, is_customer, region_filter
from portal.types import AnyUser


def threads_visible_to(user: AnyUser) -> QuerySet[Thread]:
    if is_customer(user):
        customer = own_customer(user)
        if customer is None:
            return Thread.objects.none()
        return Thread.objects.filter(customer_id=customer.pk)
    if not can(user, Action.HANDLE_MESSAGES):
        return Thread.objects.none()
    # The customer's region now (a customer who moves is served by the new region's staff).
    return Thread.objects.filter(region_filter(user, "customer__region"))


def handles_threads(user: AnyUser) -> bool:
    """Whether ``user`` works the staff side of the message center."""
    return can(user, Action.HANDLE_MESSAGES) and not is_customer(user)


def messages_visible_to(user: AnyUser, thread: Thread) -> QuerySet[SecureMessage]:
    """The messages of ``thread`` (already fetched through ``threads_visible_to``) that
    ``user`` reads: customers never see internal notes or withdrawn messages."""
    messages = SecureMessage.objects.filter(thread=thread)
    if is_customer(user):
        return messages.filter(internal=False, retracted_at__isnull=True)
    if not handles_threads(user):
        return SecureMessage.objects.none()
    return messages


def customer_side(user: AnyUser) -> Q:
    """Messages the other side wrote, from ``user``'s side (for read receipts)."""
    return Q(author_kind="staff") if is_customer(user) else Q(author_kind="customer")
