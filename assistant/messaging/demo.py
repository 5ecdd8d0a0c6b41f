"""Demo data of the secure message center (``manage.py seed_demo``; idempotent)."""

from __future__ import annotations

from django.conf import settings

from assistant.messaging.models import Thread
from assistant.messaging.services.threads import thread_start
from knowledge.customers.demo import demo_secure_customer
from knowledge.customers.services import customer_login_ensure

DEMO_MESSAGE = (
    "Hello, I don't recognise a $54.20 charge from ACME on my credit card, from a few days "
    "ago. I never bought anything from them. What can I do?"
)


def seed_messaging() -> str:
    customer = demo_secure_customer()
    password = getattr(settings, "DEMO_PASSWORD", "")
    if customer is None or not password:
        return "secure messages: no demo customer (seed the customers and DEMO_PASSWORD first)"
    user, _ = customer_login_ensure(actor=None, customer=customer)
    if not user.has_usable_password():
        user.set_password(password)
        user.save(update_fields=["password"])
    if not Thread.objects.filter(customer=customer).exists():
        thread_start(
            user=user,
            subject="Unrecognised card payment",
            category="card_dispute",
            body=DEMO_MESSAGE,
        )
    return (
        f"secure messages: customer {user.get_username()} signs in at /secure/ "
        "(its sign-in codes are e-mailed to var/mail/)"
    )
