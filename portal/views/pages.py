"""Dashboard, audit trail browser and the error pages."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.template import loader
from django.views import defaults

from portal import registry
from portal.api.exceptions import error_response, is_api_request
from portal.forms import AuditFilterForm
from portal.middleware import too_large_response
from portal.permissions import (
    ROLE_DESCRIPTIONS,
    Action,
    can,
    is_customer,
    regions_visible_to,
    user_roles,
)
from portal.selectors import audit_event_list, audit_event_list_of_actor
from portal.services import audit_event_record
from portal.views.decorators import require_action
from portal.views.pagination import page_context


@require_action(Action.USE_PORTAL)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The home page: the user's access, then what the apps registered (``portal.registry``)."""
    user = request.user
    can_view_audit = can(user, Action.VIEW_AUDIT)
    context: dict[str, Any] = {
        "roles": [
            {"name": role.value, "description": ROLE_DESCRIPTIONS[role]}
            for role in sorted(user_roles(user))
        ],
        "regions": list(regions_visible_to(user)),
        "sees_all_regions": can(user, Action.SEE_ALL_REGIONS),
        "sections": registry.dashboard_cards(user),
        "panels": registry.render_panels(request, registry.DASHBOARD),
        "my_recent_events": audit_event_list_of_actor(user=user, limit=10),
        "can_view_audit": can_view_audit,
        "recent_audit_events": list(audit_event_list(user=user)[:10]) if can_view_audit else [],
    }
    return render(request, "portal/dashboard.html", context)


@require_action(Action.VIEW_AUDIT)
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_event_list(user=request.user, **filters)
    context = page_context(request, events, 50)
    events_shown = list(context["page_obj"].object_list)
    registry.audit_links(request.user, events_shown)
    context.update(filter_form=form, events=events_shown)
    return render(request, "portal/audit_list.html", context)


# Django's error handlers (portal/urls.py). Under /api/ they answer in the API's error shape
# ({"message", "extra"}), like DRF's views do: an unknown API URL, a failure outside DRF.


# Django's multipart parser refuses a part whose headers pass 1 KB (a long file name) or a
# malformed body; it says so in English, but also echoes the client's Content-Type.
UNREADABLE_UPLOAD = (
    "The upload could not be read: the form's parts are malformed, or one's headers are "
    "over 1 KB (a file name of several hundred characters?). Rename the file and try again."
)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # the fields of a multipart body
        return too_large_response(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exception, MultiPartParserError):
        if is_api_request(request):
            return error_response(UNREADABLE_UPLOAD, 400)
        return HttpResponseBadRequest(UNREADABLE_UPLOAD, content_type="text/plain; charset=utf-8")
    if is_api_request(request):
        return error_response("Bad request.", 400)
    return defaults.bad_request(request, exception or Exception())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    audit_event_record(
        action="permission.denied",
        actor=getattr(request, "user", None),
        details={"path": request.path[:500], "method": request.method},
    )
    if is_api_request(request):
        return error_response("You do not have permission to perform this action.", 403)
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return error_response("Not found.", 404)
    if is_customer(getattr(request, "user", None)):
        return render(request, "secure/404.html", status=404)  # the customer area's layout
    return render(request, "404.html", status=404)


# The database could not be reached, or dropped the connection or the transaction (a restart,
# a fail-over, a network cut; also a deadlock or a statement timeout): nothing was half-written
# (every write is one transaction) and the same request may succeed in a moment.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; please try again in a minute."


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: the API's JSON shape under /api/, a plain page otherwise
    (rendered without the request: no context processor may touch the database)."""
    response: HttpResponse
    if is_api_request(request):
        response = error_response(UNAVAILABLE_MESSAGE, 503, {"retry_after": RETRY_AFTER_SECONDS})
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls the 500 handler inside its ``except`` block: the exception is at hand.
    # Every uncaught exception comes here, whether a view, a middleware (the session, the
    # API token) or DRF (which re-raises what it does not handle) raised it.
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return service_unavailable(request)
    if is_api_request(request):
        return error_response("Server error.", 500)
    return HttpResponse(loader.get_template("500.html").render(), status=500)
