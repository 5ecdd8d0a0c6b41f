"""One "belongs to this customer" check (customer_records_get) for pages, API and services."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.test import APIClient

from forms_app.demo import seed_forms
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from knowledge.customers.selectors import customer_records_get
from portal.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(regions: dict[str, Any], make_user: Any) -> dict[str, Any]:
    seed_forms()
    seed_customers(count=12)
    north = regions["north"]
    mine, other = Customer.objects.filter(
        region=north, accounts__transactions__isnull=False
    ).distinct()[:2]
    return {
        "agent": make_user("agent", Role.AGENT, regions=[north]),
        "customer": mine,
        "other": other,
        "south": Customer.objects.filter(region=regions["south"]).first(),
    }


def _rows(customer: Customer) -> tuple[Any, Any]:
    account = customer.accounts.filter(transactions__isnull=False).order_by("pk").first()
    assert account is not None
    return account, account.transactions.order_by("pk").first()


def test_selector(two: dict[str, Any]) -> None:
    agent, customer = two["agent"], two["customer"]
    account, txn = _rows(customer)
    other_account, other_txn = _rows(two["other"])
    assert customer_records_get(agent, customer.pk, account.pk, txn.pk) == (
        customer,
        account,
        txn,
    )
    assert customer_records_get(agent, customer) == (customer, None, None)
    with pytest.raises(Customer.DoesNotExist):
        customer_records_get(agent, two["south"].pk)
    with pytest.raises(ValidationError) as wrong:
        customer_records_get(agent, customer, other_account)
    assert list(wrong.value.message_dict) == ["account"]
    with pytest.raises(ValidationError) as wrong:
        customer_records_get(agent, customer, None, other_txn.pk)
    assert list(wrong.value.message_dict) == ["transaction"]


def test_pages_and_api_refuse_another_customers_rows(two: dict[str, Any]) -> None:
    agent, customer = two["agent"], two["customer"]
    account, txn = _rows(customer)
    other_account, other_txn = _rows(two["other"])
    page = Client()
    page.force_login(agent)
    base = f"/forms/card-dispute/?customer={customer.pk}"
    assert page.get(f"{base}&account={account.pk}&transaction={txn.pk}").status_code == 200
    assert page.get(f"{base}&account={other_account.pk}").status_code == 404
    assert page.get(f"{base}&transaction={other_txn.pk}").status_code == 404
    assert page.get(f"/forms/card-dispute/?customer={two['south'].pk}").status_code == 404

    api = APIClient()
    api.force_authenticate(agent)
    url = "/api/v1/forms/card-dispute/prefill/"
    foreign = api.post(
        url, {"customer_id": customer.pk, "account_id": other_account.pk}, format="json"
    )
    assert foreign.status_code == 400 and "account" in str(foreign.json()["extra"])
    hidden = api.post(url, {"customer_id": two["south"].pk}, format="json")
    assert hidden.status_code == 404 and hidden.json()["message"] == "No such customer."
