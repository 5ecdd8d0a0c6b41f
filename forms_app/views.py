"""Form pages: the forms a user may fill, one form (validated server-side), and a preview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from forms_app.forms import build_form_class
from forms_app.models import FormDefinition
from forms_app.permissions import can_manage_definitions
from forms_app.selectors import definition_get, definition_get_for_preview, definition_list
from portal.permissions import Action
from portal.views.decorators import require_action


def portal_page(action: Action) -> Callable[[Any], Any]:
    """Sign-in, the portal itself (API-only accounts have none), then ``action``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return require_action(Action.USE_PORTAL)(require_action(action)(view))

    return decorator


@require_GET
@portal_page(Action.FILL_FORMS)
def form_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "forms_app/form_list.html",
        {
            "definitions": definition_list(request.user),
            "can_manage": can_manage_definitions(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@portal_page(Action.FILL_FORMS)
def form_fill(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        definition = definition_get(request.user, slug)
    except FormDefinition.DoesNotExist as missing:  # forbidden answers like missing
        raise Http404("No such form.") from missing
    form_class = build_form_class(definition)
    validated = False
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        # Submissions arrive with the workflow: for now the form is only validated.
        validated = form.is_valid()
    else:
        form = form_class()
    return render(
        request,
        "forms_app/form_fill.html",
        {"definition": definition, "form": form, "validated": validated, "preview": False},
    )


@require_http_methods(["GET", "POST"])
@portal_page(Action.USE_PORTAL)
def form_preview(request: HttpRequest, slug: str) -> HttpResponse:
    raw_version = request.GET.get("version", "")
    version = int(raw_version) if raw_version.isdigit() else None
    try:
        definition = definition_get_for_preview(request.user, slug, version)
    except FormDefinition.DoesNotExist as missing:
        raise Http404("No such form.") from missing
    form_class = build_form_class(definition)
    validated = False
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        validated = form.is_valid()
    else:
        form = form_class()
    versions = FormDefinition.objects.filter(slug=slug).order_by("-version")
    return render(
        request,
        "forms_app/form_fill.html",
        {
            "definition": definition,
            "form": form,
            "validated": validated,
            "preview": True,
            "versions": versions.values("version", "status"),
        },
    )
