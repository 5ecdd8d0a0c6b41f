"""The export's Celery task (imported by ``portal.tasks`` so that workers know it)."""

from __future__ import annotations

from celery import shared_task

from portal.records.export import records_export_build
from portal.records.retention import retention_purge
from portal.records.verification import verification_run


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=0)
def records_export_task(self: object, export_id: int) -> dict[str, object]:
    """Build export ``export_id`` (portal.records.export)."""
    export = records_export_build(export_id)
    return {"export": export_id, "status": export.status if export else "gone"}


@shared_task(bind=True, acks_late=True, max_retries=0)
def retention_purge_task(self: object) -> dict[str, int]:
    """Purge what outlived its retention, never what a legal hold keeps."""
    return retention_purge()


@shared_task(bind=True, acks_late=True, max_retries=0)
def audit_verify_task(self: object, verification_id: int) -> dict[str, object]:
    """Verify the whole audit chain for the integrity page (portal.audit_chain)."""
    verification = verification_run(verification_id)
    return {"verification": verification_id, "ok": verification.ok if verification else None}
