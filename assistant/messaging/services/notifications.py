"""E-mail to customers: only "you have a new secure message" and a link, never the content
(an e-mail leaves the bank's control; the message stays behind the sign-in)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from assistant.messaging.models import Thread
from knowledge.customers.selectors import customer_login_of
from portal.services import audit_event_record

SUBJECT = "You have a new secure message"
BODY = (
    "You have a new secure message from your bank.\n\n"
    "To read it, sign in to the secure message center:\n{link}\n\n"
    "For your security we never put the content of a message in an e-mail, and we never "
    "ask for your password or sign-in code by e-mail or phone."
)


def customer_address(thread: Thread) -> str:
    """Where the customer of ``thread`` is told: their account's address, else the record's."""
    user = customer_login_of(thread.customer)
    return (getattr(user, "email", "") or thread.customer.email or "").strip()


def customer_notify(thread_id: int) -> bool:
    """Tell the customer of ``thread_id`` that a message waits; False when there is no
    address (audited either way). SMTP errors propagate (the task retries)."""
    thread = Thread.objects.select_related("customer").filter(pk=thread_id).first()
    if thread is None or thread.customer.erased_at is not None:
        return False
    address = customer_address(thread)
    if not address:
        audit_event_record(
            action="messaging.notification_skipped",
            actor_username="system",
            target=thread,
            details={"reason": "no_address"},
        )
        return False
    link = settings.PORTAL_PUBLIC_URL + reverse("secure:thread", kwargs={"pk": thread.pk})
    send_mail(SUBJECT, BODY.format(link=link), None, [address])
    audit_event_record(action="messaging.notification_sent", actor_username="system", target=thread)
    return True
