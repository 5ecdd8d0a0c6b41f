"""Shapes of the customer API: values as the caller's role may see them."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from knowledge.customers.selectors import MAX_QUERY_LENGTH

_MASKED_HELP = "Masked (or null) unless your role sees this field in full."


class CustomerSearchQuerySerializer(serializers.Serializer[Any]):
    q = serializers.CharField(
        max_length=MAX_QUERY_LENGTH,
        help_text="Customer number, email, phone, last four of an account or card, or a name.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=50, required=False, default=20)


class CustomerSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    customer_number = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    city = serializers.CharField()
    postcode = serializers.CharField()
    country = serializers.CharField()
    region = serializers.CharField(help_text="Region code.")
    segment = serializers.CharField()
    kyc_status = serializers.CharField()
    risk_rating = serializers.CharField()
    tax_id = serializers.CharField(allow_null=True, help_text=_MASKED_HELP)
    date_of_birth = serializers.CharField(allow_null=True, help_text=_MASKED_HELP)
    masked_fields = serializers.ListField(child=serializers.CharField())


class CustomerHitSerializer(CustomerSerializer):
    score = serializers.FloatField(allow_null=True, help_text="Name similarity (pg_trgm).")


class AccountSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    type = serializers.CharField()
    account_number = serializers.CharField(allow_null=True, help_text=_MASKED_HELP)
    card_last4 = serializers.CharField()
    status = serializers.CharField()
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    opened = serializers.DateField()


class TransactionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    posted_date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    merchant = serializers.CharField()
    category = serializers.CharField()
    status = serializers.CharField()


class CaseSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    type = serializers.CharField()
    status = serializers.CharField()
    opened = serializers.DateField()
    summary = serializers.CharField()


class CustomerDetailSerializer(CustomerSerializer):
    accounts = AccountSerializer(many=True)
    transactions = TransactionSerializer(many=True, help_text="Most recent first.")
    cases = CaseSerializer(many=True)


class CustomerSearchResponseSerializer(serializers.Serializer[Any]):
    query = serializers.CharField()
    results = CustomerHitSerializer(many=True)
