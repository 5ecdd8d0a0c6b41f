"""Pre-fill: each bound field of a form from the customer record, as the user may see it.

A masked value (``•••• 1234``, ``1984-**-**``) is never put into an editable field: it
would be submitted as if it were real. The field is left empty for the person to enter
and its provenance says ``masked: true``. Hidden values are never read at all.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from forms_app.models import FormDefinition
from knowledge.customers.selectors import customer_record_values
from portal.services import audit_event_record
from portal.types import AnyUser

if TYPE_CHECKING:  # annotations only: customer rows come from knowledge's selectors
    from knowledge.customers.models import Account, Customer, Transaction


def to_json_value(value: Any) -> Any:
    """A cleaned form value or record value as stored in JSON (dates ISO, numbers as text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def prefill_values(
    user: AnyUser,
    definition: FormDefinition,
    customer: Customer,
    account: Account | int | None = None,
    transaction: Transaction | int | None = None,
) -> dict[str, dict[str, Any]]:
    """The pre-fill of every field (no audit: callers that show it to a person audit)."""
    record = customer_record_values(user, customer, account=account, transaction=transaction)
    values: dict[str, dict[str, Any]] = {}
    for spec in definition.fields.all():
        found = record.get(spec.binding) if spec.binding else None
        if found is None:
            values[spec.key] = {"value": None, "provenance": None}
            continue
        raw, origin = found
        provenance = {"source": "customer_record", **origin}
        value = None if origin.get("masked") else to_json_value(raw)
        values[spec.key] = {"value": value, "provenance": provenance}
    return values


def prefill(
    user: AnyUser,
    form: FormDefinition,
    customer: Customer,
    account: Account | int | None = None,
    transaction: Transaction | int | None = None,
) -> dict[str, dict[str, Any]]:
    """{key: {"value", "provenance"}} for ``form`` from ``customer`` as ``user`` sees it; audited.

    Masked values are left empty (provenance ``masked: true``); unbound fields are empty.
    ``Customer.DoesNotExist`` when ``user`` may not see the customer, ``ValidationError``
    when the account or transaction is not the customer's.
    """
    values = prefill_values(user, form, customer, account, transaction)
    used = sorted(
        {spec.binding for spec in form.fields.all() if values[spec.key]["provenance"] is not None}
    )
    audit_event_record(
        action="form.prefilled",
        actor=user,
        target=customer,
        details={
            "form": form.slug,
            "version": form.version,
            "customer_id": customer.pk,
            "account_id": account if isinstance(account, int) else getattr(account, "pk", None),
            "transaction_id": (
                transaction if isinstance(transaction, int) else getattr(transaction, "pk", None)
            ),
            "paths": used,
            "masked": sorted(
                key for key, item in values.items() if (item["provenance"] or {}).get("masked")
            ),
        },
    )
    return values
