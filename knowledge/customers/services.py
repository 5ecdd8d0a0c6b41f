"""Writes of customer records (imports, the admin); every change is audited."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction as db_transaction

from knowledge.customers.models import Customer
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
)
REQUIRED_COLUMNS = ("customer_number", "full_name", "region")


def _clean_date(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as error:
        raise ValidationError(
            {"date_of_birth": f"“{value}” is not a date in the form YYYY-MM-DD."}
        ) from error


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
    if data.get("date_of_birth"):
        try:
            data["date_of_birth"] = _clean_date(data["date_of_birth"])
        except ValidationError as error:
            errors.setdefault("date_of_birth", []).extend(error.messages)
    if errors:
        raise ValidationError(errors)

    customer = Customer.objects.filter(customer_number=data["customer_number"]).first()
    created = customer is None
    if customer is None:
        customer = Customer(customer_number=data["customer_number"])
    for name, value in data.items():
        if name == "region":
            customer.region = region  # type: ignore[assignment]
        elif name in ("segment", "kyc_status", "risk_rating", "country") and not value:
            continue  # keep the default or the current value
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
