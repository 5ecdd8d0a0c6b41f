"""Verifications of the audit chain asked for on the integrity page: queued, run by a
worker (a large trail takes longer than a page may), kept and audited."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal.audit_chain import verify
from portal.models import AuditVerification
from portal.permissions import Action, can
from portal.services import audit_event_record

VERIFY_TASK = "portal.records.tasks.audit_verify_task"


@transaction.atomic
def verification_request(*, actor: Any) -> AuditVerification:
    """Queue a verification of the whole chain (who reads the audit trail); audited."""
    if not can(actor, Action.VIEW_AUDIT):
        raise PermissionDenied("Only who reads the audit trail verifies it.")
    verification = AuditVerification.objects.create(requested_by=actor)
    audit_event_record(action="audit.verification_requested", actor=actor, target=verification)
    transaction.on_commit(lambda: current_app.send_task(VERIFY_TASK, args=[verification.pk]))
    return verification


def verification_run(verification_id: int) -> AuditVerification | None:
    """Run a queued verification (the worker's task) and keep its result; audited as
    ``audit.verified``."""
    verification = AuditVerification.objects.filter(pk=verification_id).first()
    if verification is None or verification.status != "queued":
        return verification  # gone, or already run (a redelivered message)
    AuditVerification.objects.filter(pk=verification.pk).update(status="running")
    try:
        result = verify()
    except Exception as failure:
        AuditVerification.objects.filter(pk=verification.pk).update(
            status="failed", finished_at=timezone.now(), error=type(failure).__name__
        )
        raise
    verification.status = "done"
    verification.finished_at = timezone.now()
    verification.ok = result.ok
    verification.checked = result.checked
    verification.anchors_checked = result.anchors_checked
    verification.head_hash = result.head_hash
    verification.seconds = result.seconds
    verification.breaks = [
        {"seq": b.seq, "event_id": b.event_id, "problem": b.problem, "detail": b.detail}
        for b in result.breaks
    ]
    verification.save()
    audit_event_record(
        action="audit.verified",
        actor=verification.requested_by,
        target=verification,
        details={
            "ok": result.ok,
            "checked": result.checked,
            "head": result.head_hash,
            "breaks": [f"{b.problem}@{b.seq}" for b in result.breaks],
        },
    )
    return verification
