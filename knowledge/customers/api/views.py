"""The customer API: search and one customer, masked per role, 404 outside your regions."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge.customers.api.serializers import (
    CustomerDetailSerializer,
    CustomerSearchQuerySerializer,
    CustomerSearchResponseSerializer,
)
from knowledge.customers.selectors import (
    customer_accounts,
    customer_cases,
    customer_get,
    customer_search,
    customer_transactions,
    customer_view,
)
from portal.api.permissions import requires
from portal.api.shortcuts import visible_or_not_found
from portal.permissions import Action

CanViewCustomers = requires(Action.VIEW_CUSTOMERS)
TAGS = ["customers"]
RECENT_TRANSACTIONS = 25
_ERRORS = {
    400: OpenApiResponse(description="Validation error: {message, extra: {fields}}"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Your role may not view customers"),
}


class CustomerSearchApi(APIView):
    """Customers of your regions matching ``q``, best match first, masked for your role."""

    permission_classes = [CanViewCustomers]

    @extend_schema(
        summary="Search customers",
        operation_id="customers_search",
        tags=TAGS,
        parameters=[CustomerSearchQuerySerializer],
        responses={200: CustomerSearchResponseSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = CustomerSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        results = customer_search(request.user, data["q"], limit=data["limit"])
        body = {"query": data["q"].strip(), "results": [asdict(row) for row in results]}
        return Response(CustomerSearchResponseSerializer(body).data)


class CustomerDetailApi(APIView):
    """One customer with accounts, recent transactions and cases; viewing is audited."""

    permission_classes = [CanViewCustomers]

    @extend_schema(
        summary="Get a customer",
        operation_id="customers_retrieve",
        tags=TAGS,
        responses={
            200: CustomerDetailSerializer,
            **_ERRORS,
            404: OpenApiResponse(description="No such customer, or not visible to you"),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        customer = visible_or_not_found(customer_get, "customer")(request.user, pk)
        body = asdict(customer_view(request.user, customer))
        body["accounts"] = [asdict(row) for row in customer_accounts(request.user, customer)]
        body["transactions"] = [
            asdict(row)
            for row in customer_transactions(request.user, customer, RECENT_TRANSACTIONS)
        ]
        body["cases"] = list(customer_cases(request.user, customer).values())
        return Response(CustomerDetailSerializer(body).data)
