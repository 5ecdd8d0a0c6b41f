"""Housekeeping on the Celery worker."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def housekeeping_task(self: object) -> dict[str, str]:
    """Delete expired sessions and expired login-attempt records; safe to run any time."""
    call_command("clearsessions")
    call_command("axes_reset_failure_logs", age=30)
    return {"status": "ok"}


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(ConnectionError,),
    retry_backoff=True,
    max_retries=5,
)
def audit_anchor_task(self: object) -> dict[str, object]:
    """Seal stragglers and write a signed anchor of the audit chain's head."""
    from portal.audit_chain import anchor_write

    anchor = anchor_write()
    return {"seq": anchor.seq if anchor else 0}


# The records package's tasks, registered with the workers through this module.
from portal.records.tasks import (  # noqa: E402
    audit_verify_task,
    records_export_task,
    retention_purge_task,
)

__all__ = [
    "audit_anchor_task",
    "audit_verify_task",
    "housekeeping_task",
    "records_export_task",
    "retention_purge_task",
]
