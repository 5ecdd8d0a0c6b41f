"""The customer-record paths a form field may be bound to (for pre-fill)."""

from __future__ import annotations

FALLBACK_BINDINGS: list[str] = [
    "customer.full_name",
    "customer.customer_number",
    "customer.email",
    "customer.phone",
    "customer.address",
    "customer.date_of_birth",
    "customer.tax_id",
    "account.account_number",
    "account.card_last4",
    "account.type",
    "transaction.id",
    "transaction.amount",
    "transaction.posted_date",
    "transaction.merchant",
]

try:  # The customer records define the paths; until they exist, the agreed list stands in.
    from knowledge.customers.selectors import (  # type: ignore[import-not-found,unused-ignore]
        BINDABLE_PATHS,
    )

    SUPPORTED_BINDINGS: list[str] = list(BINDABLE_PATHS)
except ImportError:
    SUPPORTED_BINDINGS = list(FALLBACK_BINDINGS)
