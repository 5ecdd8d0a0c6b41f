"""Search, masking per role, region isolation, audit and customer_record_values."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from knowledge.customers.models import Customer
from knowledge.customers.selectors import (
    BINDABLE_PATHS,
    customer_accounts,
    customer_get,
    customer_record_values,
    customer_search,
    customer_transactions,
)
from portal.models import AuditEvent
from portal.permissions import Role, field_visibility
from tests.knowledge.customers.conftest import make_customer

pytestmark = pytest.mark.django_db


def _numbers(user: Any, query: str) -> list[str]:
    return [row.customer_number for row in customer_search(user, query)]


@pytest.mark.parametrize(
    ("role", "tax_id", "dob", "account"),
    [
        ("agent", "***-**-6789", "1984-**-**", "•••• 5678"),
        ("supervisor", "***-**-6789", "1984-**-**", "•••• 5678"),
        ("compliance", "123-45-6789", "1984-03-15", "000012345678"),
    ],
)
def test_masking_per_role(
    customers: dict[str, Any],
    role_users: dict[str, Any],
    role: str,
    tax_id: str,
    dob: str,
    account: str,
) -> None:
    user = role_users[role]
    [hit] = customer_search(user, "CUS-N-001")
    assert (hit.tax_id, hit.date_of_birth) == (tax_id, dob)
    customer = customer_get(user, customers["john"].pk)
    [row] = customer_accounts(user, customer)
    assert row.account_number == account
    assert customer_transactions(user, customer, 1)[0].account_number == account


def test_admin_sees_full_fields_content_and_integration_nothing(
    customers: dict[str, Any], role_users: dict[str, Any]
) -> None:
    assert field_visibility(role_users["admin"], "tax_id") == "full"
    for role in ("content_manager", "integration"):
        user = role_users[role]
        assert field_visibility(user, "full_name") == "hidden"
        assert customer_search(user, "John Smith") == []
        with pytest.raises(Customer.DoesNotExist):
            customer_get(user, customers["john"].pk)


def test_most_permissive_role_wins(make_user: Any, regions: Any) -> None:
    user = make_user("both", Role.AGENT, Role.COMPLIANCE, regions=[regions["north"]])
    assert field_visibility(user, "tax_id") == "full"


def test_region_isolation(customers: dict[str, Any], role_users: dict[str, Any]) -> None:
    agent = role_users["agent"]  # north
    assert _numbers(agent, "Jane Southern") == []
    assert _numbers(agent, "CUS-S-001") == []
    with pytest.raises(Customer.DoesNotExist):
        customer_get(agent, customers["jane"].pk)
    assert customer_accounts(agent, customers["jane"]) == []
    assert _numbers(role_users["compliance"], "CUS-S-001") == ["CUS-S-001"]


def test_misspelled_name_finds_by_trigram(customers: dict[str, Any], role_users: Any) -> None:
    make_customer(customers["john"].region, "CUS-N-002", "Joan Smithers")
    make_customer(customers["john"].region, "CUS-N-003", "Peter Parker")
    results = customer_search(role_users["agent"], "Jonh Smtih")
    assert results[0].customer_number == "CUS-N-001"
    assert "CUS-N-003" not in [row.customer_number for row in results]


@pytest.mark.parametrize(
    "query",
    ["cus-n-001", "CUS-N-001@example.com", "555 010 2000", "(555) 010-2000", "5678", "4321"],
)
def test_lookups(customers: dict[str, Any], role_users: Any, query: str) -> None:
    assert _numbers(role_users["agent"], query)[0] == "CUS-N-001"


def test_search_does_not_match_hidden_values(customers: dict[str, Any], role_users: Any) -> None:
    # The full tax id and account number are not searchable (encrypted).
    assert _numbers(role_users["agent"], "123-45-6789") == []


def test_customer_get_is_audited(customers: dict[str, Any], role_users: Any) -> None:
    agent = role_users["agent"]
    customer_get(agent, customers["john"].pk)
    event = AuditEvent.objects.get(action="customer.viewed")
    assert event.actor == agent
    assert event.target_id == str(customers["john"].pk)


def test_record_values_masked_for_agent(customers: dict[str, Any], role_users: Any) -> None:
    agent = role_users["agent"]
    values = customer_record_values(
        agent, customers["john"], customers["account"], customers["transaction"]
    )
    assert set(values) <= set(BINDABLE_PATHS)
    assert values["customer.tax_id"] == (
        "***-**-6789",
        {"record": "customer", "id": customers["john"].pk, "field": "tax_id", "masked": True},
    )
    assert values["account.account_number"][0] == "•••• 5678"
    assert values["account.account_number"][1]["masked"] is True
    assert values["customer.full_name"][0] == "John Smith"
    assert values["customer.full_name"][1]["masked"] is False
    assert values["customer.address"][0].startswith("1 Main Street")
    assert values["transaction.id"][0] == customers["transaction"].pk
    assert str(values["transaction.amount"][0]) == "-42.50"
    assert values["transaction.merchant"][1] == {
        "record": "transaction",
        "id": customers["transaction"].pk,
        "field": "merchant",
        "masked": False,
    }


def test_record_values_full_for_compliance(customers: dict[str, Any], role_users: Any) -> None:
    values = customer_record_values(
        role_users["compliance"], customers["john"], account=customers["account"].pk
    )
    assert values["customer.tax_id"][0] == "123-45-6789"
    assert values["customer.date_of_birth"][0] == "1984-03-15"
    assert values["account.account_number"] == (
        "000012345678",
        {
            "record": "account",
            "id": customers["account"].pk,
            "field": "account_number",
            "masked": False,
        },
    )
    assert "transaction.id" not in values


def test_record_values_refuse_foreign_records(customers: dict[str, Any], role_users: Any) -> None:
    compliance = role_users["compliance"]
    with pytest.raises(ValidationError):
        customer_record_values(compliance, customers["john"], account=customers["south_account"])
    with pytest.raises(Customer.DoesNotExist):
        customer_record_values(role_users["agent"], customers["jane"])
    with pytest.raises(Customer.DoesNotExist):
        customer_record_values(role_users["content_manager"], customers["john"])
