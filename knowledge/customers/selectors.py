"""Reads of customer records, always starting from what the user may see.

Every value leaves here as the user may see it: sensitive fields masked or left out by
``portal.permissions.field_visibility``. Region scoping is a SQL ``WHERE`` clause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.postgres.search import TrigramSimilarity
from django.core.exceptions import ValidationError
from django.db import connection
from django.db import transaction as db_transaction
from django.db.models import Case as SqlCase
from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from knowledge.customers.masking import MASKERS, digits_of, visible_value
from knowledge.customers.models import Account, Case, Customer, CustomerLogin, Transaction
from portal.permissions import Action, can, field_visibility, is_customer, region_filter
from portal.services import audit_event_record
from portal.types import AnyUser

MAX_QUERY_LENGTH = 200
# pg_trgm similarity above which a name counts as a (misspelled) match: "Jonh Smtih"
# scores 0.22 against "John Smith", unrelated names of the same length about 0.15.
NAME_SIMILARITY_THRESHOLD = 0.2

BINDABLE_PATHS: tuple[str, ...] = (
    "customer.customer_number",
    "customer.full_name",
    "customer.email",
    "customer.phone",
    "customer.address",
    "customer.address_line1",
    "customer.address_line2",
    "customer.city",
    "customer.postcode",
    "customer.country",
    "customer.date_of_birth",
    "customer.tax_id",
    "account.account_number",
    "account.card_last4",
    "account.type",
    "transaction.id",
    "transaction.amount",
    "transaction.posted_date",
    "transaction.merchant",
)


@dataclass(frozen=True)
class CustomerView:
    """A customer as one user may see it (sensitive values masked, or None when hidden)."""

    id: int
    customer_number: str
    full_name: str
    email: str
    phone: str
    address_line1: str
    address_line2: str
    city: str
    postcode: str
    country: str
    address: str
    region: str
    region_name: str
    segment: str
    kyc_status: str
    risk_rating: str
    tax_id: str | None
    date_of_birth: str | None
    masked_fields: list[str] = field(default_factory=list)
    score: float | None = None


@dataclass(frozen=True)
class AccountView:
    id: int
    type: str
    type_display: str
    account_number: str | None
    card_last4: str
    status: str
    balance: Decimal
    currency: str
    opened: date
    masked: bool


@dataclass(frozen=True)
class TransactionView:
    id: int
    account_id: int
    account_number: str | None
    posted_date: date
    amount: Decimal
    currency: str
    merchant: str
    category: str
    status: str


def customers_visible_to(user: AnyUser) -> QuerySet[Customer]:
    """Customers ``user`` may see: the view_customers action, then their regions (in SQL)."""
    if not can(user, Action.VIEW_CUSTOMERS) or field_visibility(user, "customer") == "hidden":
        return Customer.objects.none()
    return Customer.objects.filter(region_filter(user, "region")).select_related("region")


def customer_view(user: AnyUser, customer: Customer, *, score: float | None = None) -> CustomerView:
    """``customer`` masked for ``user`` (the caller got it from a user-scoped selector)."""
    masked: list[str] = []
    values: dict[str, str | None] = {}
    for name in ("tax_id", "date_of_birth"):
        value, visibility = visible_value(user, name, getattr(customer, name) or "")
        values[name] = value
        if visibility == "masked":
            masked.append(name)
    return CustomerView(
        id=customer.pk,
        customer_number=customer.customer_number,
        full_name=customer.full_name,
        email=customer.email,
        phone=customer.phone,
        address_line1=customer.address_line1,
        address_line2=customer.address_line2,
        city=customer.city,
        postcode=customer.postcode,
        country=customer.country,
        address=customer.address,
        region=customer.region.code,
        region_name=customer.region.name,
        segment=customer.segment,
        kyc_status=customer.kyc_status,
        risk_rating=customer.risk_rating,
        tax_id=values["tax_id"],
        date_of_birth=values["date_of_birth"],
        masked_fields=masked,
        score=score,
    )


def _exact_filter(query: str) -> Q:
    exact = Q(customer_number__iexact=query)
    if "@" in query:
        exact |= Q(email__iexact=query)
    digits = digits_of(query)
    if len(digits) == 4 and len(query.strip()) <= 6:
        accounts = Account.objects.filter(customer=OuterRef("pk")).filter(
            Q(account_last4=digits) | Q(card_last4=digits)
        )
        exact |= Q(Exists(accounts)) | Q(tax_id_last4=digits)
    if len(digits) >= 7:
        exact |= Q(phone_digits=digits) | Q(phone_digits__endswith=digits)
    return exact


def customer_search(user: AnyUser, query: str, limit: int = 20) -> list[CustomerView]:
    """Customers matching ``query``: number, email, phone, last four of an account or card,
    or a (misspelled) name by trigram similarity; exact matches first, masked for ``user``."""
    query = (query or "").strip()[:MAX_QUERY_LENGTH]
    if not query or limit < 1:
        return []
    exact = _exact_filter(query)
    with db_transaction.atomic(), connection.cursor() as cursor:
        # The % operator (trigram_similar) uses the GIN index; its threshold is per session.
        cursor.execute("SET LOCAL pg_trgm.similarity_threshold = %s", [NAME_SIMILARITY_THRESHOLD])
        rows = list(
            customers_visible_to(user)
            .filter(erased_at__isnull=True)  # nothing of an erased customer is left to match
            .annotate(
                similarity=TrigramSimilarity("full_name", query),
                exact=SqlCase(
                    When(exact, then=Value(1)), default=Value(0), output_field=IntegerField()
                ),
            )
            .filter(exact | Q(full_name__trigram_similar=query) | Q(full_name__icontains=query))
            .order_by("-exact", "-similarity", "full_name", "pk")[:limit]
        )
        db_transaction.set_rollback(True)  # read only: drops the SET LOCAL (a savepoint's
        # setting would otherwise outlive it in the caller's transaction)
    audit_event_record(
        action="customer.searched",
        actor=user,
        target_type="knowledge.customer",
        details={"query": query, "results": len(rows)},
    )
    return [customer_view(user, row, score=float(row.similarity)) for row in rows]


def customer_get(user: AnyUser, customer_id: int) -> Customer:
    """The customer ``customer_id`` if ``user`` may see it (DoesNotExist otherwise); audited."""
    customer = customers_visible_to(user).get(pk=customer_id)
    audit_event_record(action="customer.viewed", actor=user, target=customer)
    return customer


class CustomerRecords(NamedTuple):
    """A customer the user may see, with an account and a transaction of its own."""

    customer: Customer
    account: Account | None
    transaction: Transaction | None


def customer_records_get(
    user: AnyUser,
    customer: Customer | int,
    account: Account | int | None = None,
    transaction: Transaction | int | None = None,
) -> CustomerRecords:
    """``customer`` (a row or an id) if ``user`` may see it, with ``account`` and
    ``transaction`` (rows or ids, optional) checked to belong to it; not audited.

    ``Customer.DoesNotExist`` when ``user`` may not see the customer (as when it is missing);
    ``ValidationError`` keyed ``account`` or ``transaction`` when one is not the customer's
    (a transaction given with an account must also be that account's).
    """
    customer_id = customer if isinstance(customer, int) else customer.pk
    customer_row = customers_visible_to(user).filter(pk=customer_id).first()
    if customer_row is None:
        raise Customer.DoesNotExist("No such customer.")
    account_row = None
    if account is not None:
        account_id = account if isinstance(account, int) else account.pk
        account_row = Account.objects.filter(pk=account_id, customer=customer_row).first()
        if account_row is None:
            raise ValidationError({"account": "This account does not belong to the customer."})
    transaction_row = None
    if transaction is not None:
        transaction_id = transaction if isinstance(transaction, int) else transaction.pk
        rows = Transaction.objects.filter(pk=transaction_id, account__customer=customer_row)
        if account_row is not None:
            rows = rows.filter(account=account_row)
        transaction_row = rows.first()
        if transaction_row is None:
            raise ValidationError(
                {"transaction": "This transaction does not belong to the customer (or account)."}
            )
    return CustomerRecords(customer_row, account_row, transaction_row)


def _account_view(user: AnyUser, account: Account) -> AccountView:
    number, visibility = visible_value(user, "account_number", account.account_number)
    return AccountView(
        id=account.pk,
        type=account.type,
        type_display=account.get_type_display(),
        account_number=number,
        card_last4=account.card_last4,
        status=account.status,
        balance=account.balance,
        currency=account.currency,
        opened=account.opened,
        masked=visibility == "masked",
    )


def customer_accounts(user: AnyUser, customer: Customer) -> list[AccountView]:
    """The accounts of ``customer``, masked for ``user`` (none when the customer is not visible)."""
    accounts = Account.objects.filter(customer=customer, customer__in=customers_visible_to(user))
    return [_account_view(user, account) for account in accounts.order_by("opened", "pk")]


def customer_transactions(
    user: AnyUser, customer: Customer, limit: int = 20
) -> list[TransactionView]:
    """The most recent transactions over every account of ``customer``, newest first."""
    rows = (
        Transaction.objects.filter(
            account__customer=customer, account__customer__in=customers_visible_to(user)
        )
        .select_related("account")
        .order_by("-posted_date", "-pk")[: max(limit, 0)]
    )
    result = []
    for row in rows:
        number, _ = visible_value(user, "account_number", row.account.account_number)
        result.append(
            TransactionView(
                id=row.pk,
                account_id=row.account_id,
                account_number=number,
                posted_date=row.posted_date,
                amount=row.amount,
                currency=row.currency,
                merchant=row.merchant,
                category=row.category,
                status=row.status,
            )
        )
    return result


def customer_cases(user: AnyUser, customer: Customer) -> QuerySet[Case]:
    """The cases of ``customer``, newest first (none when the customer is not visible)."""
    return Case.objects.filter(customer=customer, customer__in=customers_visible_to(user))


def _provenance(record: str, pk: int, name: str, masked: bool) -> dict[str, Any]:
    return {"record": record, "id": pk, "field": name, "masked": masked}


def customer_record_values(
    user: AnyUser,
    customer: Customer,
    account: Account | int | None = None,
    transaction: Transaction | int | None = None,
) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Values of ``BINDABLE_PATHS`` as ``user`` may see them, each with its provenance.

    Masked values are the masked text; hidden ones are left out. ``account`` and
    ``transaction`` (rows or ids) must belong to ``customer`` (ValidationError otherwise);
    a customer ``user`` may not see raises ``Customer.DoesNotExist``.
    """
    _, account_row, transaction_row = customer_records_get(user, customer, account, transaction)

    values: dict[str, tuple[Any, dict[str, Any]]] = {}

    def put(path: str, record: str, pk: int, name: str, raw: Any, sensitive: bool) -> None:
        if sensitive:
            value, visibility = visible_value(user, name, raw or "")
        else:
            visibility = field_visibility(user, "customer")
            value = None if visibility == "hidden" else raw
        if visibility != "hidden":
            values[path] = (value, _provenance(record, pk, name, visibility == "masked"))

    for name in (
        "customer_number",
        "full_name",
        "email",
        "phone",
        "address_line1",
        "address_line2",
        "city",
        "postcode",
        "country",
    ):
        put(f"customer.{name}", "customer", customer.pk, name, getattr(customer, name), False)
    put("customer.address", "customer", customer.pk, "address", customer.address, False)
    for name in ("date_of_birth", "tax_id"):
        put(f"customer.{name}", "customer", customer.pk, name, getattr(customer, name), True)
    if account_row is not None:
        pk = account_row.pk
        put(
            "account.account_number",
            "account",
            pk,
            "account_number",
            account_row.account_number,
            True,
        )
        put("account.card_last4", "account", pk, "card_last4", account_row.card_last4, False)
        put("account.type", "account", pk, "type", account_row.type, False)
    if transaction_row is not None:
        pk = transaction_row.pk
        put("transaction.id", "transaction", pk, "id", pk, False)
        put("transaction.amount", "transaction", pk, "amount", transaction_row.amount, False)
        put(
            "transaction.posted_date",
            "transaction",
            pk,
            "posted_date",
            transaction_row.posted_date,
            False,
        )
        put("transaction.merchant", "transaction", pk, "merchant", transaction_row.merchant, False)
    return values


# --- the "self" scope: a customer's own records, as the customer sees them ------------------


def own_customer(user: AnyUser) -> Customer | None:
    """The customer record ``user`` signs in as (a customer account linked to it), else None.

    Staff accounts have none, whatever their rights: the self scope is the link, not a role's
    reach. An erased customer's account has none either."""
    if not user.is_authenticated or not is_customer(user) or not user.is_active:
        return None
    return (
        Customer.objects.filter(login__user_id=user.pk, erased_at__isnull=True)
        .select_related("region")
        .first()
    )


def _self_value(field: str, value: str) -> str:
    if field in settings.CUSTOMER_MASKED_FIELDS and field in MASKERS:
        return MASKERS[field](value)
    return value


def own_accounts(user: AnyUser) -> list[AccountView]:
    """The accounts of ``user``'s own customer record, masked as the bank configures for
    customers (``CUSTOMER_MASKED_FIELDS``); none for anyone else."""
    customer = own_customer(user)
    if customer is None:
        return []
    masked = "account_number" in settings.CUSTOMER_MASKED_FIELDS
    return [
        AccountView(
            id=account.pk,
            type=account.type,
            type_display=account.get_type_display(),
            account_number=_self_value("account_number", account.account_number),
            card_last4=account.card_last4,
            status=account.status,
            balance=account.balance,
            currency=account.currency,
            opened=account.opened,
            masked=masked,
        )
        for account in Account.objects.filter(customer=customer).order_by("opened", "pk")
    ]


def own_transactions(
    user: AnyUser, limit: int = 50, ids: list[int] | None = None
) -> list[TransactionView]:
    """The most recent transactions of ``user``'s own accounts, newest first (only ``ids``
    when given); none for anyone else."""
    customer = own_customer(user)
    if customer is None:
        return []
    rows = Transaction.objects.filter(account__customer=customer).select_related("account")
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return [
        TransactionView(
            id=row.pk,
            account_id=row.account_id,
            account_number=_self_value("account_number", row.account.account_number),
            posted_date=row.posted_date,
            amount=row.amount,
            currency=row.currency,
            merchant=row.merchant,
            category=row.category,
            status=row.status,
        )
        for row in rows.order_by("-posted_date", "-pk")[: max(limit, 0)]
    ]


def customer_login_of(customer: Customer) -> Any:
    """The account ``customer`` signs in with (a ``User``), or None."""
    login = CustomerLogin.objects.filter(customer=customer).select_related("user").first()
    return login.user if login is not None else None


def customer_login_by_id(customer_id: int) -> Any:
    """The account of the customer ``customer_id`` (a ``User``), or None (erasure only)."""
    login = CustomerLogin.objects.filter(customer_id=customer_id).select_related("user").first()
    return login.user if login is not None else None
