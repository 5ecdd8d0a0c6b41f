"""Encryption at rest: ciphertext in the database, wrong keys raise, keys rotate."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from knowledge.customers.models import Account, Customer
from portal.crypto import FieldDecryptionError
from tests.knowledge.customers.conftest import make_customer

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def _raw(sql: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        return str(cursor.fetchone()[0])


def test_sensitive_columns_hold_ciphertext(customers: dict[str, Any]) -> None:
    john = customers["john"]
    raw_tax = _raw("select tax_id from knowledge_customer where id = %s", john.pk)
    raw_dob = _raw("select date_of_birth from knowledge_customer where id = %s", john.pk)
    raw_account = _raw(
        "select account_number from knowledge_account where id = %s", customers["account"].pk
    )
    assert "6789" not in raw_tax
    assert "123-45" not in raw_tax
    assert "1984" not in raw_dob
    assert "5678" not in raw_account
    # Under the customer's own data key (erasure destroys it), itself wrapped by the keys.
    assert raw_tax.startswith(f"dk1:{john.data_key_id}:gAAAA")
    assert raw_account.startswith(f"dk1:{john.data_key_id}:gAAAA")
    reloaded = Customer.objects.get(pk=john.pk)
    assert reloaded.tax_id == "123-45-6789"
    assert reloaded.date_of_birth == "1984-03-15"
    assert reloaded.tax_id_last4 == "6789"
    assert Account.objects.get(pk=customers["account"].pk).account_number == "000012345678"


def test_wrong_key_raises_and_never_returns_ciphertext(settings: Any, regions: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    customer = make_customer(regions["north"], "CUS-K-1", "Key Test")
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    with pytest.raises(FieldDecryptionError, match="FIELD_ENCRYPTION_KEYS"):
        Customer.objects.get(pk=customer.pk)


def test_no_key_is_a_configuration_error(settings: Any, regions: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is empty"):
        make_customer(regions["north"], "CUS-K-2", "No Key")


def test_rotation_reencrypts_with_the_first_key(settings: Any, regions: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    customer = make_customer(regions["north"], "CUS-K-3", "Rotate Me")
    account = Account.objects.create(
        customer=customer, type="loan", account_number="111122223333", opened="2020-01-01"
    )
    before = _raw("select tax_id from knowledge_customer where id = %s", customer.pk)
    wrapped = "select wrapped from portal_datakey where id = %s"
    key_before = _raw(wrapped, customer.data_key_id)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert Customer.objects.get(pk=customer.pk).tax_id == "123-45-6789"  # old key decrypts
    call_command("rotate_field_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # The customer's data key is re-wrapped with the new key; their values stay as they are.
    assert _raw(wrapped, customer.data_key_id) != key_before
    after = _raw("select tax_id from knowledge_customer where id = %s", customer.pk)
    assert after == before and "6789" not in after
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    reloaded = Customer.objects.get(pk=customer.pk)
    assert reloaded.tax_id == "123-45-6789"
    assert reloaded.date_of_birth == "1984-03-15"
    assert Account.objects.get(pk=account.pk).account_number == "111122223333"
