"""Customer pages: search and the customer page, masked per role, region-scoped."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from forms_app.selectors import submissions_for_customer
from knowledge.customers.models import Customer
from knowledge.customers.selectors import (
    MAX_QUERY_LENGTH,
    customer_accounts,
    customer_cases,
    customer_get,
    customer_search,
    customer_transactions,
    customer_view,
)
from knowledge.views import portal_page
from portal.permissions import Action

RECENT_TRANSACTIONS = 25


@require_GET
@portal_page(Action.VIEW_CUSTOMERS)
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    results = customer_search(request.user, query) if query else None
    return render(
        request,
        "knowledge/customers/search.html",
        {"query": query, "results": results, "max_length": MAX_QUERY_LENGTH},
    )


@require_GET
@portal_page(Action.VIEW_CUSTOMERS)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        customer = customer_get(request.user, pk)
    except Customer.DoesNotExist as missing:  # forbidden answers like missing
        raise Http404("No such customer.") from missing
    context = {
        "customer": customer_view(request.user, customer),
        "accounts": customer_accounts(request.user, customer),
        "transactions": customer_transactions(request.user, customer, RECENT_TRANSACTIONS),
        "cases": customer_cases(request.user, customer),
        # The forms app owns submissions; its selector applies its own policy.
        "submissions": submissions_for_customer(request.user, customer)[:20],
    }
    return render(request, "knowledge/customers/detail.html", context)
