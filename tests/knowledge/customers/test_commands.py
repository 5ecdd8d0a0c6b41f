"""The demo seed and import_customers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Account, Customer, Transaction

pytestmark = pytest.mark.django_db


def _snapshot() -> list[tuple[str, str, str, str, str]]:
    return [
        (c.customer_number, c.full_name, c.email, c.tax_id, c.region.code)
        for c in Customer.objects.select_related("region").order_by("customer_number")
    ]


def test_seed_is_deterministic_and_idempotent() -> None:
    assert seed_customers(count=30) == 30
    first = _snapshot()
    accounts = Account.objects.count()
    assert 30 <= accounts <= 90
    assert Transaction.objects.count() >= accounts * 8
    assert {row[4] for row in first} == {"north", "south"}
    assert seed_customers(count=30) == 0
    assert Customer.objects.count() == 30
    assert Account.objects.count() == accounts
    Customer.objects.all().delete()
    assert seed_customers(count=30) == 30
    assert _snapshot() == first


CSV = """customer_number,full_name,date_of_birth,email,phone,region,tax_id,segment
IMP-1,Alice Import,1980-01-31,alice@example.com,555-100-2000,north,111-22-3333,premier
IMP-2,Bob Baddate,31/01/1980,bob@example.com,,north,,
IMP-3,Carol Nowhere,1970-05-05,carol@example.com,,atlantis,,
IMP-4,,1970-05-05,nobody@example.com,,south,,
IMP-5,Eve Good,,eve@example.com,,south,,
"""


def test_import_reports_bad_rows_and_imports_good_ones(tmp_path: Path, regions: Any) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="3 row"):
        call_command("import_customers", str(path), stdout=out, stderr=err)
    errors = err.getvalue()
    assert "line 3: date_of_birth:" in errors
    assert "line 4: region: Unknown region" in errors
    assert "line 5: full_name: This field is required." in errors
    assert "2 created, 0 updated, 3 failed" in out.getvalue()
    alice = Customer.objects.get(customer_number="IMP-1")
    assert (alice.tax_id, alice.tax_id_last4, alice.segment) == ("111-22-3333", "3333", "premier")
    assert alice.date_of_birth == "1980-01-31"
    assert set(Customer.objects.values_list("customer_number", flat=True)) == {"IMP-1", "IMP-5"}

    path.write_text(
        "customer_number,full_name,region\nIMP-1,Alice Renamed,south\nIMP-5,Eve Good,south\n"
    )
    out = io.StringIO()
    call_command("import_customers", str(path), stdout=out)
    assert "0 created, 2 updated, 0 failed" in out.getvalue()
    alice.refresh_from_db()
    assert (alice.full_name, alice.region.code, alice.tax_id) == (
        "Alice Renamed",
        "south",
        "111-22-3333",
    )
