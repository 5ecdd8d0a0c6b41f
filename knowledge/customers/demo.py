"""Deterministic synthetic customers for the demo and the tests (no real person's data)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction as db_transaction
from faker import Faker

from knowledge.customers.models import (
    Account,
    AccountType,
    Case,
    CaseType,
    Customer,
    KycStatus,
    RiskRating,
    Segment,
    Transaction,
    TransactionStatus,
)
from portal.selectors import regions_by_code
from portal.services import data_keys_bind, data_keys_create, region_ensure

if TYPE_CHECKING:
    from portal.models import Region

DEMO_REGIONS = [("north", "North branch"), ("south", "South branch")]
MERCHANTS = [
    ("Grocery", ["FreshMart", "Green Grocer", "Corner Market"]),
    ("Fuel", ["QuickFuel", "Highway Gas"]),
    ("Dining", ["Luigi's Trattoria", "Burger Barn", "Sushi Go"]),
    ("Travel", ["SkyHigh Airlines", "RailLink", "CityCab"]),
    ("Online", ["ShopNow.example", "StreamFlix", "AppStore"]),
    ("Utilities", ["PowerCo", "WaterWorks", "TelcoOne"]),
]


def customer_number(index: int) -> str:
    return f"CUS-{index:06d}"


def _regions() -> list[Region]:
    existing = regions_by_code(["north", "south"])
    return [
        existing.get(code) or region_ensure(code=code, name=name) for code, name in DEMO_REGIONS
    ]


@db_transaction.atomic
def seed_customers(count: int = 500, seed: int = 20261124) -> int:
    """Create the demo customers 1..``count`` that do not exist yet; returns how many were added.

    The same ``seed`` always gives the same people, accounts and cases; transaction dates
    are relative to today (the last 90 days).
    """
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data, not security
    regions = _regions()
    today = date.today()
    numbers = [customer_number(i) for i in range(1, count + 1)]
    existing = set(
        Customer.objects.filter(customer_number__in=numbers).values_list(
            "customer_number", flat=True
        )
    )

    customers: list[Customer] = []
    plans: list[list[tuple[Account, list[Transaction]]]] = []
    cases: list[list[Case]] = []
    for index, number in enumerate(numbers):
        # Draw everything for every index, so skipping existing rows keeps the rest identical.
        tax_id = f"{rng.randint(100, 899):03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999)}"
        phone = f"+1 {rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        customer = Customer(
            customer_number=number,
            full_name=fake.name(),
            date_of_birth=fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat(),
            email=fake.unique.email(),
            phone=phone,
            phone_digits="".join(ch for ch in phone if ch.isdigit()),
            address_line1=fake.street_address(),
            address_line2=fake.secondary_address() if rng.random() < 0.2 else "",
            city=fake.city(),
            postcode=fake.postcode(),
            country="US",
            region=regions[index % len(regions)],
            segment=rng.choices(list(Segment), weights=[80, 12, 8])[0],
            kyc_status=rng.choices(list(KycStatus), weights=[85, 10, 5])[0],
            risk_rating=rng.choices(list(RiskRating), weights=[75, 20, 5])[0],
            tax_id=tax_id,
            tax_id_last4=tax_id[-4:],
        )
        accounts: list[tuple[Account, list[Transaction]]] = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(list(AccountType))
            account_number = "".join(str(rng.randint(0, 9)) for _ in range(12))
            account = Account(
                type=kind,
                account_number=account_number,
                account_last4=account_number[-4:],
                card_last4=f"{rng.randint(0, 9999):04d}"
                if kind in (AccountType.CHECKING, AccountType.CREDIT_CARD)
                else "",
                balance=Decimal(rng.randint(-500000, 5000000)) / 100,
                opened=today - timedelta(days=rng.randint(120, 5000)),
            )
            transactions = []
            for _ in range(rng.randint(8, 12)):
                category, names = rng.choice(MERCHANTS)
                transactions.append(
                    Transaction(
                        posted_date=today - timedelta(days=rng.randint(0, 89)),
                        amount=-Decimal(rng.randint(100, 50000)) / 100,
                        merchant=rng.choice(names),
                        category=category,
                        status=rng.choices(list(TransactionStatus), weights=[90, 8, 2])[0],
                    )
                )
            accounts.append((account, transactions))
        customer_cases = []
        if rng.random() < 0.08:
            case_type = rng.choice(list(CaseType))
            customer_cases.append(
                Case(
                    type=case_type,
                    status=rng.choice(["open", "closed"]),
                    opened=today - timedelta(days=rng.randint(0, 60)),
                    summary="Card transaction reported as not recognised."
                    if case_type == CaseType.FRAUD_ALERT
                    else "Complaint about a fee charged on the account.",
                )
            )
        if number in existing:
            continue
        customers.append(customer)
        plans.append(accounts)
        cases.append(customer_cases)

    # Each customer's values are encrypted under a data key of their own (portal.crypto).
    keys = data_keys_create("customer", len(customers))
    for customer, key in zip(customers, keys, strict=True):
        customer.data_key = key
    Customer.objects.bulk_create(customers, batch_size=500)
    data_keys_bind([(customer.data_key_id, customer.pk) for customer in customers])
    all_accounts: list[Account] = []
    for customer, accounts in zip(customers, plans, strict=True):
        for account, _ in accounts:
            account.customer = customer
            all_accounts.append(account)
    Account.objects.bulk_create(all_accounts, batch_size=1000)
    all_transactions: list[Transaction] = []
    for accounts in plans:
        for account, transactions in accounts:
            for row in transactions:
                row.account = account
                row.currency = account.currency
                all_transactions.append(row)
    Transaction.objects.bulk_create(all_transactions, batch_size=2000)
    all_cases: list[Case] = []
    for customer, customer_cases in zip(customers, cases, strict=True):
        for case in customer_cases:
            case.customer = customer
            all_cases.append(case)
    Case.objects.bulk_create(all_cases)
    return len(customers)


DISPUTE_MERCHANT = "ACME ONLINE"
DISPUTE_AMOUNT = Decimal("-54.20")


@db_transaction.atomic
def demo_secure_customer() -> Customer | None:
    """The demo's customer of the secure message center: the first North customer with a
    credit card, given an unrecognised 54.20 charge from ACME five days ago (once)."""
    card = (
        Account.objects.filter(type=AccountType.CREDIT_CARD, customer__region__code="north")
        .select_related("customer")
        .order_by("customer__customer_number", "pk")
        .first()
    )
    if card is None:
        return None
    if not Transaction.objects.filter(account=card, merchant=DISPUTE_MERCHANT).exists():
        Transaction.objects.create(
            account=card,
            posted_date=date.today() - timedelta(days=5),
            amount=DISPUTE_AMOUNT,
            merchant=DISPUTE_MERCHANT,
            category="Online",
        )
    return card.customer
