"""Customer fixtures: a few hand-made customers in the north and south regions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from knowledge.customers.models import Account, Case, Customer, Transaction


def make_customer(region: Any, number: str, name: str, **extra: Any) -> Customer:
    values = {
        "date_of_birth": "1984-03-15",
        "email": f"{number.lower()}@example.com",
        "phone": "+1 (555) 010-2000",
        "address_line1": "1 Main Street",
        "city": "Springfield",
        "postcode": "12345",
        "tax_id": "123-45-6789",
        **extra,
    }
    customer = Customer(customer_number=number, full_name=name, region=region, **values)
    customer.full_clean()
    customer.save()
    return customer


@pytest.fixture
def customers(regions: dict[str, Any], role_users: dict[str, Any]) -> dict[str, Any]:
    """john (north: checking 000012345678 card 4321, two transactions, a case), jane (south)."""
    john = make_customer(regions["north"], "CUS-N-001", "John Smith")
    account = Account.objects.create(
        customer=john,
        type="checking",
        account_number="000012345678",
        card_last4="4321",
        balance=Decimal("100.00"),
        opened=date(2020, 1, 2),
    )
    first = Transaction.objects.create(
        account=account,
        posted_date=date(2026, 11, 1),
        amount=Decimal("-42.50"),
        merchant="FreshMart",
        category="Grocery",
    )
    Transaction.objects.create(
        account=account, posted_date=date(2026, 11, 2), amount=Decimal("-9.99"), merchant="Cafe"
    )
    Case.objects.create(customer=john, type="fraud_alert", opened=date(2026, 11, 3), summary="x")
    jane = make_customer(
        regions["south"],
        "CUS-S-001",
        "Jane Southern",
        phone="555-777-8888",
        tax_id="987-65-4321",
        date_of_birth="1990-07-01",
    )
    south_account = Account.objects.create(
        customer=jane,
        type="savings",
        account_number="999988887777",
        balance=Decimal("5.00"),
        opened=date(2021, 5, 6),
    )
    return {
        "john": john,
        "jane": jane,
        "account": account,
        "transaction": first,
        "south_account": south_account,
    }
