"""Tools tests: an agent of the north region, seeded customers with card transactions, and
the tool results the fake model was sent."""

from __future__ import annotations

from typing import Any

import pytest

from knowledge.customers.models import Account
from portal.permissions import Role


@pytest.fixture
def agent(make_user: Any, regions: dict[str, Any]) -> Any:
    return make_user("tool_agent", Role.AGENT, regions=[regions["north"]])


def card_transaction(customer: Any) -> tuple[Any, Any]:
    account = (
        Account.objects.filter(customer=customer, transactions__isnull=False)
        .exclude(card_last4="")
        .order_by("pk")
        .first()
    )
    assert account is not None
    return account, account.transactions.order_by("-posted_date", "-pk").first()


def customer_with_card(customers: list[Any]) -> Any:
    for customer in customers:
        if (
            Account.objects.filter(customer=customer, transactions__isnull=False)
            .exclude(card_last4="")
            .exists()
        ):
            return customer
    raise AssertionError("no seeded customer with card transactions")


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["body"]["messages"] if m.get("role") == "tool"]
