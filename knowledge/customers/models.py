"""Customer records: customers, accounts, transactions and cases.

Sensitive values (tax id, date of birth, account number) are encrypted at rest, under the
customer's own data key (``Customer.data_key``: erasure destroys it, portal.crypto); plain
derived columns (``tax_id_last4``, ``account_last4``) serve masking and lookups.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models, transaction

from portal.crypto import EncryptedTextField


class Segment(models.TextChoices):
    RETAIL = "retail", "Retail"
    PREMIER = "premier", "Premier"
    BUSINESS = "business", "Business"


class KycStatus(models.TextChoices):
    VERIFIED = "verified", "Verified"
    PENDING = "pending", "Pending"
    EXPIRED = "expired", "Expired"


class RiskRating(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Customer(models.Model):
    """A customer of one region; the whole record is hidden from roles without access."""

    customer_number = models.CharField(max_length=32, unique=True)
    full_name = models.CharField(max_length=200)
    # ISO date (YYYY-MM-DD), encrypted.
    date_of_birth = EncryptedTextField(blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    # Digits only, for lookups whatever the formatting.
    phone_digits = models.CharField(max_length=40, blank=True, editable=False)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")
    region = models.ForeignKey("portal.Region", on_delete=models.PROTECT, related_name="customers")
    segment = models.CharField(max_length=16, choices=Segment.choices, default=Segment.RETAIL)
    kyc_status = models.CharField(
        max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING
    )
    risk_rating = models.CharField(
        max_length=16, choices=RiskRating.choices, default=RiskRating.LOW
    )
    tax_id = EncryptedTextField(blank=True)
    tax_id_last4 = models.CharField(max_length=4, blank=True, editable=False)
    # When the bank's relationship with the customer ended (accounts closed): records that
    # must be kept after it (ERASURE_OBLIGATION_DAYS, e.g. AML) run from this date.
    relationship_ended = models.DateField(null=True, blank=True)
    # The data key of this customer's encrypted values and of the copies elsewhere
    # (submissions, conversations about them): destroyed by erasure (portal.records.erasure).
    data_key = models.ForeignKey(
        "portal.DataKey",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
    )
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "knowledge_customer"
        ordering = ["full_name", "id"]
        indexes = [
            models.Index(fields=["region", "full_name"], name="customer_region_name"),
            models.Index(fields=["email"], name="customer_email"),
            models.Index(fields=["phone_digits"], name="customer_phone_digits"),
            models.Index(fields=["tax_id_last4"], name="customer_tax_last4"),
            GinIndex(name="customer_name_trgm", fields=["full_name"], opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_number} {self.full_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.phone_digits = "".join(ch for ch in self.phone if ch.isdigit())
        digits = "".join(ch for ch in self.tax_id or "" if ch.isdigit())
        self.tax_id_last4 = digits[-4:]
        with transaction.atomic():  # the key is bound to its customer, or neither is stored
            self._save(*args, **kwargs)

    def _save(self, *args: Any, **kwargs: Any) -> None:
        new_key = self.data_key_id is None and self.erased_at is None
        if new_key:
            from portal.services import data_keys_create

            (self.data_key,) = data_keys_create("customer")
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "data_key"}
        super().save(*args, **kwargs)
        if new_key:
            from portal.services import data_keys_bind

            data_keys_bind([(self.data_key_id, self.pk)])

    def personal_data_key_id(self) -> int | None:
        return self.data_key_id

    @property
    def address(self) -> str:
        parts = [self.address_line1, self.address_line2, self.city, self.postcode, self.country]
        return ", ".join(part for part in parts if part)


class AccountType(models.TextChoices):
    CHECKING = "checking", "Checking"
    SAVINGS = "savings", "Savings"
    CREDIT_CARD = "credit_card", "Credit card"
    LOAN = "loan", "Loan"


class AccountStatus(models.TextChoices):
    OPEN = "open", "Open"
    FROZEN = "frozen", "Frozen"
    CLOSED = "closed", "Closed"


class Account(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="accounts")
    type = models.CharField(max_length=16, choices=AccountType.choices)
    account_number = EncryptedTextField()
    account_last4 = models.CharField(max_length=4, blank=True, editable=False)
    card_last4 = models.CharField(max_length=4, blank=True)
    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.OPEN
    )
    balance = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    opened = models.DateField()

    class Meta:
        db_table = "knowledge_account"
        ordering = ["customer", "opened", "id"]
        indexes = [
            models.Index(fields=["account_last4"], name="account_last4"),
            models.Index(fields=["card_last4"], name="account_card_last4"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} •••• {self.account_last4}"

    def save(self, *args: object, **kwargs: object) -> None:
        digits = "".join(ch for ch in self.account_number or "" if ch.isdigit())
        self.account_last4 = digits[-4:]
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def personal_data_key_id(self) -> int | None:
        return self.customer.data_key_id


class TransactionStatus(models.TextChoices):
    POSTED = "posted", "Posted"
    PENDING = "pending", "Pending"
    DISPUTED = "disputed", "Disputed"


class Transaction(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="transactions")
    posted_date = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    merchant = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=TransactionStatus.choices, default=TransactionStatus.POSTED
    )

    class Meta:
        db_table = "knowledge_transaction"
        ordering = ["-posted_date", "-id"]
        indexes = [
            models.Index(fields=["account", "-posted_date"], name="transaction_account_date")
        ]

    def __str__(self) -> str:
        return f"{self.posted_date} {self.merchant} {self.amount} {self.currency}"


class CaseType(models.TextChoices):
    FRAUD_ALERT = "fraud_alert", "Fraud alert"
    COMPLAINT = "complaint", "Complaint"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Case(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="cases")
    type = models.CharField(max_length=16, choices=CaseType.choices)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    opened = models.DateField()
    summary = models.TextField(blank=True)

    class Meta:
        db_table = "knowledge_case"
        ordering = ["-opened", "-id"]
        indexes = [models.Index(fields=["customer", "status"], name="case_customer_status")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.get_status_display()}) {self.opened}"


class CustomerLogin(models.Model):
    """The account a customer signs in to the secure message center with: one account, one
    customer record, both ways (``portal.permissions.Role.CUSTOMER``; the "self" scope of
    ``knowledge.customers.selectors``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_login"
    )
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="login")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "knowledge_customer_login"

    def __str__(self) -> str:
        return f"Sign-in of customer {self.customer_id}"
