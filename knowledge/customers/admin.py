"""Admin for customer records: read-only; encrypted fields masked unless the user sees them in full.

Only users whose role may see customer records (field visibility of "customer" not
hidden) get these pages at all; a content manager with staff access sees none of them.
"""

from __future__ import annotations

import threading
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from knowledge.customers.masking import visible_value
from knowledge.customers.models import Account, Case, Customer, Transaction
from portal.permissions import field_visibility, region_filter

# The user of the current request, for the display callables (which only get the row).
# Thread-local: one admin instance serves every thread.
_current = threading.local()


def _remember(request: HttpRequest) -> None:
    _current.user = request.user


def _shown(field: str, value: str) -> str:
    shown, _ = visible_value(getattr(_current, "user", None), field, value or "")
    return shown if shown is not None else "(hidden)"


class _ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return field_visibility(request.user, "customer") != "hidden"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return field_visibility(request.user, "customer") != "hidden"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AccountInline(admin.TabularInline[Account, Customer]):
    model = Account
    extra = 0
    fields = ["type", "masked_account_number", "card_last4", "status", "balance", "opened"]
    readonly_fields = ["type", "masked_account_number", "card_last4", "status", "balance", "opened"]

    @admin.display(description="Account number")
    def masked_account_number(self, obj: Account) -> str:
        return _shown("account_number", obj.account_number)

    def get_queryset(self, request: HttpRequest) -> Any:
        _remember(request)
        return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(_ReadOnlyAdmin):
    list_display = ["customer_number", "full_name", "region", "segment", "kyc_status"]
    list_filter = ["region", "segment", "kyc_status", "risk_rating"]
    search_fields = ["customer_number", "full_name", "email"]
    fields = readonly_fields = (
        "customer_number",
        "full_name",
        "masked_date_of_birth",
        "masked_tax_id",
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
        "relationship_ended",
        "erased_at",
        "created_at",
        "updated_at",
    )
    inlines = [AccountInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        _remember(request)
        return super().get_queryset(request).filter(region_filter(request.user, "region"))

    @admin.display(description="Date of birth")
    def masked_date_of_birth(self, obj: Customer) -> str:
        return _shown("date_of_birth", obj.date_of_birth)

    @admin.display(description="Tax id")
    def masked_tax_id(self, obj: Customer) -> str:
        return _shown("tax_id", obj.tax_id)


@admin.register(Transaction)
class TransactionAdmin(_ReadOnlyAdmin):
    list_display = ["posted_date", "merchant", "amount", "currency", "status", "account"]
    list_filter = ["status", "category"]
    fields = ["account", "posted_date", "amount", "currency", "merchant", "category", "status"]
    readonly_fields = [
        "account",
        "posted_date",
        "amount",
        "currency",
        "merchant",
        "category",
        "status",
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request).select_related("account")
        return queryset.filter(region_filter(request.user, "account__customer__region"))


@admin.register(Case)
class CaseAdmin(_ReadOnlyAdmin):
    list_display = ["customer", "type", "status", "opened"]
    list_filter = ["type", "status"]
    fields = ["customer", "type", "status", "opened", "summary"]
    readonly_fields = ["customer", "type", "status", "opened", "summary"]

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request).select_related("customer")
        return queryset.filter(region_filter(request.user, "customer__region"))
