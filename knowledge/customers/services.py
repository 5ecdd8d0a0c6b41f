"""Writes of customer records (imports, the admin); every change is audited."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction as db_transaction
from django.utils import timezone

from knowledge.customers.models import Account, Case, Customer, CustomerLogin, Transaction
from portal.selectors import region_get_by_code
from portal.services import audit_event_record
from portal.types import AnyUser

# Columns that customer_upsert accepts (docs/knowledge.md, "Customer records").
CUSTOMER_COLUMNS = (
    "customer_number",
    "full_name",
    "date_of_birth",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "postcode",
    "country",
    "region",
    "segment",
    "kyc_status",
    "risk_rating",
    "tax_id",
    "relationship_ended",
)
DATE_COLUMNS = ("date_of_birth", "relationship_ended")
REQUIRED_COLUMNS = ("customer_number", "full_name", "region")


def _clean_date(value: str, name: str = "date_of_birth") -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as error:
        raise ValidationError({name: f"“{value}” is not a date in the form YYYY-MM-DD."}) from error


@db_transaction.atomic
def customer_upsert(
    *, actor: AnyUser | None, data: dict[str, str], source: str = ""
) -> tuple[Customer, bool]:
    """Create or update the customer ``data["customer_number"]``; True when created.

    Only the given columns change; ``region`` is a region code.
    """
    data = {key: (value or "").strip() for key, value in data.items() if key in CUSTOMER_COLUMNS}
    errors: dict[str, list[str]] = {}
    for name in REQUIRED_COLUMNS:
        if not data.get(name):
            errors.setdefault(name, []).append("This field is required.")
    region = None
    if data.get("region"):
        region = region_get_by_code(data["region"])
        if region is None:
            errors.setdefault("region", []).append(f"Unknown region “{data['region']}”.")
    for name in DATE_COLUMNS:
        if data.get(name):
            try:
                data[name] = _clean_date(data[name], name)
            except ValidationError as error:
                errors.setdefault(name, []).extend(error.messages)
    if errors:
        raise ValidationError(errors)

    # Locked (an erasure holds it until it commits), then its key when saving: the order
    # the erasure takes them in.
    customer = (
        Customer.objects.select_for_update().filter(customer_number=data["customer_number"]).first()
    )
    if customer is not None and customer.erased_at is not None:
        raise ValidationError(
            {"customer_number": "This customer's personal data was erased: it is not stored again."}
        )
    created = customer is None
    if customer is None:
        customer = Customer(customer_number=data["customer_number"])
    for name, value in data.items():
        if name == "region":
            customer.region = region  # type: ignore[assignment]
        elif name in ("segment", "kyc_status", "risk_rating", "country") and not value:
            continue  # keep the default or the current value
        elif name == "relationship_ended":
            customer.relationship_ended = date.fromisoformat(value) if value else None
        else:
            setattr(customer, name, value)
    customer.full_clean()
    customer.save()
    audit_event_record(
        action="customer.created" if created else "customer.updated",
        actor=actor,
        actor_username="" if actor else "system",
        target=customer,
        details={"source": source, "fields": sorted(data)},
    )
    return customer, created


# --- erasure (portal.records.erasure, through the registry) ---------------------------------

ERASED_NAME = "Erased customer"
ERASURE_CLASSES = {
    "customer_record": "The customer's record (name, contact, address, date of birth, tax id)",
    "accounts": "Their accounts' numbers",
    "transactions": "Their transactions' merchants",
    "cases": "Their cases' summaries",
}


def customer_erasure_describe(customer_id: int) -> str | None:
    return Customer.objects.filter(pk=customer_id).values_list("customer_number", flat=True).first()


def customer_erasure_blockers(customer_id: int, holds: object) -> list[str]:
    """Why the customer's records must be kept now: erased already, the relationship not
    ended, or ended less than ERASURE_OBLIGATION_DAYS ago (e.g. AML: five years)."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        return []
    if customer.erased_at is not None:
        return [f"This customer was already erased ({customer.erased_at:%Y-%m-%d})."]
    if customer.data_key_id is None:
        return [
            "This customer's values are not under a data key of their own yet (stored before "
            "per-customer keys existed): run manage.py rotate_field_keys first, which moves "
            "them, so that the erasure reaches copies in backups too."
        ]
    if customer.relationship_ended is None:
        return [
            "The relationship with this customer has not ended (no end date on their "
            "record): their records are kept while it lasts."
        ]
    days = int(settings.ERASURE_OBLIGATION_DAYS)
    keep_until = customer.relationship_ended + timedelta(days=days)
    if keep_until > timezone.localdate():
        return [
            f"Records must be kept until {keep_until:%Y-%m-%d}: {days} days after the "
            f"relationship ended on {customer.relationship_ended:%Y-%m-%d} "
            "(ERASURE_OBLIGATION_DAYS, e.g. anti-money-laundering records)."
        ]
    return []


def customer_erasure_lock(customer_id: int) -> list[int]:
    """Lock the customer's row against edits (``FOR NO KEY UPDATE``: rows that refer to
    them can still be inserted); their data key's id."""
    row = (
        Customer.objects.select_for_update(no_key=True)
        .filter(pk=customer_id)
        .values_list("data_key_id", flat=True)
        .first()
    )
    return [row] if row else []


def customer_erase_records(customer_id: int) -> dict[str, int]:
    """Overwrite the customer's personal values (their data key is destroyed after)."""
    accounts = Account.objects.filter(customer_id=customer_id).update(
        account_number="", account_last4="", card_last4=""
    )
    transactions = Transaction.objects.filter(account__customer_id=customer_id).update(merchant="")
    cases = Case.objects.filter(customer_id=customer_id).update(summary="")
    Customer.objects.filter(pk=customer_id).update(
        full_name=ERASED_NAME,
        date_of_birth="",
        email="",
        phone="",
        phone_digits="",
        address_line1="",
        address_line2="",
        city="",
        postcode="",
        tax_id="",
        tax_id_last4="",
        erased_at=timezone.now(),
    )
    return {
        "customer_record": 1,
        "accounts": accounts,
        "transactions": transactions,
        "cases": cases,
    }


@db_transaction.atomic
def customer_login_ensure(*, actor: AnyUser | None, customer: Customer) -> tuple[Any, bool]:
    """The account ``customer`` signs in with, made if missing (username: the customer
    number; the record's e-mail; no usable password until an invitation is accepted); True
    when made. The account holds the customer role and nothing else."""
    from django.contrib.auth import get_user_model

    from portal.permissions import Role
    from portal.services import user_set_roles

    existing = CustomerLogin.objects.filter(customer=customer).select_related("user").first()
    if existing is not None:
        return existing.user, False
    account_model = get_user_model()
    username = customer.customer_number
    if account_model.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            {"customer": "An account with this customer number as its name already exists."}
        )
    user = account_model(username=username, email=customer.email, is_active=True)
    user.set_unusable_password()
    user.save()
    user_set_roles(user=user, roles=[Role.CUSTOMER])
    CustomerLogin.objects.create(user=user, customer=customer)
    audit_event_record(
        action="customer.login_created",
        actor=actor,
        target=customer,
        details={"user": user.pk},
    )
    return user, True
