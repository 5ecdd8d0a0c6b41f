"""The audit chain's page: verify the trail now, and the signed anchors (portal.audit_chain)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from portal.audit_chain import verify
from portal.models import AuditAnchor
from portal.permissions import Action
from portal.services import audit_event_record
from portal.views.decorators import require_action

ANCHORS_SHOWN = 20


@require_http_methods(["GET", "POST"])
@require_action(Action.VIEW_AUDIT)
def audit_verify(request: HttpRequest) -> HttpResponse:
    """GET: the anchors; POST: verify the whole chain now (recorded as audit.verified)."""
    result = None
    if request.method == "POST":
        result = verify()
        audit_event_record(
            action="audit.verified",
            actor=request.user,
            details={
                "ok": result.ok,
                "checked": result.checked,
                "head": result.head_hash,
                "breaks": [f"{b.problem}@{b.seq}" for b in result.breaks],
            },
        )
    return render(
        request,
        "portal/audit_verify.html",
        {"result": result, "anchors": AuditAnchor.objects.order_by("-seq")[:ANCHORS_SHOWN]},
    )
