"""Customer pages: search and the customer page, masked per role, region-scoped."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from knowledge.customers.selectors import (
    MAX_QUERY_LENGTH,
    customer_accounts,
    customer_cases,
    customer_get,
    customer_search,
    customer_transactions,
    customer_view,
)
from portal import registry
from portal.permissions import Action
from portal.shortcuts import visible_or_404
from portal.views.decorators import portal_page

RECENT_TRANSACTIONS = 25


@require_GET
@portal_page(Action.VIEW_CUSTOMERS)
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    results = customer_search(request.user, query) if query else None
    return render(
        request,
        "customers/search.html",
        {"query": query, "results": results, "max_length": MAX_QUERY_LENGTH},
    )


@require_GET
@portal_page(Action.VIEW_CUSTOMERS)
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = visible_or_404(customer_get, "customer")(request.user, pk)
    context = {
        "customer": customer_view(request.user, customer),
        "accounts": customer_accounts(request.user, customer),
        "transactions": customer_transactions(request.user, customer, RECENT_TRANSACTIONS),
        "cases": customer_cases(request.user, customer),
        # Other apps' panels (e.g. the forms app's submissions), each under its own policy.
        "panels": registry.render_panels(request, registry.CUSTOMER_DETAIL, customer=customer),
    }
    return render(request, "customers/detail.html", context)
