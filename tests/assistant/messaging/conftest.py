"""Secure message center fixtures: a bank with customers, customer accounts, staff, the
customer-facing and internal collections, and a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portal.permissions import Role
from tests.assistant.conftest import bank, llm_server, without_llm  # noqa: F401
from tests.knowledge.conftest import add_document, collections  # noqa: F401
from tests.support.smtp import Mailbox, smtp_as_portal_mail

INTERNAL_CANARY = "wombatinternalcanary"
PUBLIC_POLICY = (
    "# Card disputes\n\nIf you do not recognise a card payment, tell us within 60 days of "
    "the statement date. We refund an unrecognised card charge while we investigate the "
    "dispute.\n"
)
INTERNAL_PROCEDURE = (
    "# Dispute handling procedure\n\nAgents check the card payment dispute against fraud "
    f"scoring rules before any refund. Internal reference {INTERNAL_CANARY}.\n"
)


def token_client(user: Any, scopes: list[str] | None = None) -> Any:
    """An API client with a bearer token of ``user``'s."""
    from rest_framework.test import APIClient

    from portal.services import api_token_create

    client = APIClient()
    _, key = api_token_create(user=user, name="t", scopes=scopes or ["read", "write"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    with smtp_as_portal_mail(settings) as box:
        yield box


@pytest.fixture
def customer_user(bank: dict[str, Any]) -> Any:  # noqa: F811
    """The first north customer's account (password set, as after an invitation)."""
    from knowledge.customers.services import customer_login_ensure

    customer = bank["north"][0]
    customer.email = "first.customer@example.test"
    customer.save()
    user, _ = customer_login_ensure(actor=None, customer=customer)
    user.set_password("customer password 123")
    user.email = customer.email
    user.save()
    return user


@pytest.fixture
def other_customer_user(bank: dict[str, Any]) -> Any:  # noqa: F811
    """A south customer's account."""
    from knowledge.customers.services import customer_login_ensure

    customer = bank["south"][0]
    customer.email = "south.customer@example.test"
    customer.save()
    user, _ = customer_login_ensure(actor=None, customer=customer)
    user.set_password("customer password 456")
    user.save()
    return user


@pytest.fixture
def staff(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent": make_user("north-agent", Role.AGENT, regions=[regions["north"]]),
        "south_agent": make_user("south-agent", Role.AGENT, regions=[regions["south"]]),
        "supervisor": make_user("north-supervisor", Role.SUPERVISOR, regions=[regions["north"]]),
        "compliance": make_user("compliance-officer", Role.COMPLIANCE),
        "content": make_user("content-manager", Role.CONTENT_MANAGER),
    }


@pytest.fixture
def policies(collections: dict[str, Any], add_document: Any) -> dict[str, Any]:  # noqa: F811
    """A customer-facing collection with the dispute policy; an internal one with the
    staff procedure (a canary)."""
    public = collections["customer-help"]  # customer-facing in the demo (knowledge/demo.py)
    assert public.customer_facing
    internal = collections["fraud-disputes"]
    return {
        "public": add_document(public, "Card dispute policy", PUBLIC_POLICY, name="p.md"),
        "internal": add_document(internal, "Dispute procedure", INTERNAL_PROCEDURE, name="i.md"),
    }
