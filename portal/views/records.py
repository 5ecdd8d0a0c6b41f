"""Records pages: the audit chain's integrity (portal.audit_chain), exports for regulators
(portal.records.export), retention and holds, erasure (portal.records.erasure)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.models import (
    AuditAnchor,
    AuditVerification,
    ErasureCertificate,
    ExportStatus,
    LegalHold,
    RecordExport,
)
from portal.permissions import Action, can
from portal.records.erasure import (
    ErasureRefused,
    certificate_document,
    certificate_get,
    certificates_listed,
    customer_erase,
    erasure_preview,
)
from portal.records.export import exports_visible_to, records_export_open, records_export_request
from portal.records.retention import (
    holds_listed,
    legal_hold_place,
    legal_hold_release,
    retention_overview,
)
from portal.records.verification import verification_request
from portal.validation import parse_id
from portal.views.decorators import require_action

ANCHORS_SHOWN = 20
VERIFICATIONS_SHOWN = 10
EXPORTS_SHOWN = 50
EXPORT_FIELDS = ("start", "end", "username", "customer_id")


@require_http_methods(["GET", "POST"])
@require_action(Action.VIEW_AUDIT)
def audit_verify(request: HttpRequest) -> HttpResponse:
    """GET: the latest verifications and anchors; POST: queue a verification of the whole
    chain (a worker runs it: a large trail takes longer than a page may)."""
    if request.method == "POST":
        verification_request(actor=request.user)
        messages.success(request, "Verification queued: its result appears below.")
        return redirect("portal:audit_verify")
    verifications = list(
        AuditVerification.objects.select_related("requested_by")[:VERIFICATIONS_SHOWN]
    )
    return render(
        request,
        "portal/audit_verify.html",
        {
            "verifications": verifications,
            "working": any(v.status in ("queued", "running") for v in verifications),
            "anchors": AuditAnchor.objects.order_by("-seq")[:ANCHORS_SHOWN],
        },
    )


@require_http_methods(["GET", "POST"])
@require_action(Action.VIEW_AUDIT)
@require_action(Action.SUPERVISE_ANSWERS)
def export_list(request: HttpRequest) -> HttpResponse:
    """The exports (who asked, what, status, progress) and the form that asks for one."""
    errors: dict[str, list[str]] = {}
    values = {key: request.POST.get(key, "") for key in EXPORT_FIELDS}
    if request.method == "POST":
        try:
            records_export_request(actor=request.user, **values)
        except ValidationError as invalid:
            errors = invalid.message_dict
        else:
            messages.success(request, "Export queued: it is built in the background.")
            return redirect("portal:export_list")
    exports = list(exports_visible_to(request.user)[:EXPORTS_SHOWN])
    return render(
        request,
        "portal/exports.html",
        {
            "exports": exports,
            "errors": errors,
            "values": values,
            "working": any(
                e.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) for e in exports
            ),
        },
        status=400 if errors else 200,
    )


@require_action(Action.VIEW_AUDIT)
@require_action(Action.SUPERVISE_ANSWERS)
def export_download(request: HttpRequest, pk: str) -> FileResponse:
    number = parse_id(pk)
    try:
        handle = records_export_open(actor=request.user, export_id=number or 0)
    except RecordExport.DoesNotExist:
        raise Http404("No such export.") from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"records-export-{number}.zip",
        content_type="application/zip",
    )


HOLD_FIELDS = ("kind", "target_id", "reason", "case_reference")


@require_http_methods(["GET", "POST"])
@require_action(Action.VIEW_AUDIT)
def retention(request: HttpRequest) -> HttpResponse:
    """Retention classes and their durations; legal holds (placed here by compliance)."""
    errors: dict[str, list[str]] = {}
    values = {key: request.POST.get(key, "") for key in HOLD_FIELDS}
    if request.method == "POST":
        try:
            legal_hold_place(actor=request.user, **values)
        except PermissionDenied:
            raise
        except ValidationError as invalid:
            errors = invalid.message_dict
        else:
            messages.success(request, "Legal hold placed.")
            return redirect("portal:retention")
    return render(
        request,
        "portal/retention.html",
        {
            "classes": retention_overview(request.user),
            "holds": holds_listed(request.user),
            "kinds": LegalHold.KINDS,
            "may_hold": can(request.user, Action.MANAGE_HOLDS),
            "errors": errors,
            "values": values,
        },
        status=400 if errors else 200,
    )


@require_POST
@require_action(Action.MANAGE_HOLDS)
def hold_release(request: HttpRequest, pk: str) -> HttpResponse:
    hold = LegalHold.objects.filter(pk=parse_id(pk) or 0).first()
    if hold is None:
        raise Http404("No such hold.")
    try:
        legal_hold_release(actor=request.user, hold=hold, note=request.POST.get("note", ""))
    except ValidationError as invalid:
        messages.error(request, " ".join(invalid.messages))
    else:
        messages.success(request, "Legal hold released.")
    return redirect("portal:retention")


ERASURE_FIELDS = ("customer_id", "request_reference")


@require_http_methods(["GET", "POST"])
@require_action(Action.VIEW_AUDIT)
def erasure(request: HttpRequest) -> HttpResponse:
    """Erasure certificates; compliance checks a customer (``step=check``: what would be
    erased, or why not now) and then erases them (``step=erase``)."""
    errors: dict[str, list[str]] = {}
    refused: list[str] = []
    preview = None
    values = {key: request.POST.get(key, "").strip() for key in ERASURE_FIELDS}
    status = 200
    if request.method == "POST":
        if not can(request.user, Action.ERASE_PERSONAL_DATA):
            raise PermissionDenied("Only compliance erases personal data.")
        customer_id = parse_id(values["customer_id"])
        if customer_id is None:
            errors["customer_id"] = ["A customer id is a number."]
        elif request.POST.get("step") == "erase":
            try:
                certificate = customer_erase(
                    actor=request.user,
                    customer_id=customer_id,
                    request_reference=values["request_reference"],
                )
            except ErasureRefused as refusal:
                refused, status = refusal.messages, 409
            except ValidationError as invalid:
                errors = invalid.message_dict
            else:
                messages.success(
                    request,
                    f"Customer {certificate.subject_reference} erased: certificate "
                    f"#{certificate.pk}.",
                )
                return redirect("portal:erasure")
        else:
            preview = erasure_preview(actor=request.user, customer_id=customer_id)
            if preview.reference is None:
                errors["customer_id"] = ["No such customer."]
        if errors:
            status = 400
    return render(
        request,
        "portal/erasure.html",
        {
            "certificates": certificates_listed(request.user),
            "may_erase": can(request.user, Action.ERASE_PERSONAL_DATA),
            "preview": preview,
            "refused": refused,
            "errors": errors,
            "values": values,
        },
        status=status,
    )


@require_action(Action.VIEW_AUDIT)
def erasure_certificate(request: HttpRequest, pk: str) -> JsonResponse:
    """The certificate as signed JSON (downloaded)."""
    try:
        certificate = certificate_get(request.user, parse_id(pk) or 0)
    except ErasureCertificate.DoesNotExist:
        raise Http404("No such certificate.") from None
    response = JsonResponse(certificate_document(certificate), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = (
        f'attachment; filename="erasure-certificate-{certificate.pk}.json"'
    )
    return response
