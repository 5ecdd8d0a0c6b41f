from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from knowledge.customers.selectors import own_customer
from portal.permissions import Action, can


def secure_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A page of the customer area: signed in as a customer linked to a record; anyone else
    signed in (staff) gets 404, as if the page did not exist."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            login = reverse("secure:login")
            return redirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
        if not can(request.user, Action.USE_SECURE_MESSAGES):
            raise Http404("No such page.")
        customer = own_customer(request.user)
        if customer is None:
            raise Http404("No such page.")
        request.secure_customer = customer  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped
