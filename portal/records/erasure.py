"""Erasure of a customer's personal data beside an append-only trail (docs/records.md,
"Erasure").

A customer's personal values are encrypted under a data key of their own (``portal.crypto``,
``DataKey``): the customer's record, their accounts' numbers, the submissions about them,
the conversations and hand-offs about them. Erasure (GDPR Art. 17) is refused while a legal
hold applies or an obligation to keep the records still runs (each app says which:
``registry.ErasureStep.blockers``). Otherwise, in one transaction:

1. each app overwrites the customer's personal values in its records (``erase``): what the
   pages, the API and exports read from then on is "erased";
2. exports that may hold the customer are deleted (their files), unless a hold keeps them;
3. the customer's data key is destroyed: every other copy of the values encrypted under it
   — replicas, the WAL, old row versions, and database backups once the backups of the
   key table taken before have expired (docs/operations.md) — can no longer be read;
4. an erasure certificate is stored, signed with the audit anchors' key, and the erasure is
   audited (counts, never contents).

The audit trail is not touched: it never held the customer's values (ids, and keyed
fingerprints of typed text, ``portal.audit``), so its chain still verifies.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from portal import registry
from portal.audit_chain import document_sign, document_signed
from portal.crypto import data_keys_forget
from portal.models import DataKey, ErasureCertificate, ExportStatus, LegalHold, RecordExport
from portal.permissions import Action, can
from portal.records.retention import delete_files_on_commit, holds_active, holds_lock
from portal.services import audit_event_record
from portal.types import AnyUser, User

log = logging.getLogger(__name__)

SUBJECT = "customer"
EXPORTS = "exports"


BACKUPS_NOTE = (
    "The data keys were destroyed in the database: copies of the encrypted values in "
    "replicas, logs and old row versions can no longer be read; copies in database backups "
    "can no longer be read once the backups of the data-key table taken before this erasure "
    "have expired (docs/operations.md, 'Per-customer data keys')."
)


class ErasureRefused(ValidationError):
    """Erasure may not happen now: ``messages`` say why."""


@dataclass
class ErasurePreview:
    customer_id: int
    reference: str | None  # None: no such customer
    blockers: list[str] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.reference is not None and not self.blockers


def _lock(customer_id: int) -> set[int]:
    """Lock the customer's row (what the apps lock, ``FOR NO KEY UPDATE``: rows that refer
    to it can still be inserted); the ids of their data keys."""
    ids = set(
        DataKey.objects.filter(
            subject_type=SUBJECT, subject_id=customer_id, destroyed_at__isnull=True
        ).values_list("pk", flat=True)
    )
    for step in registry.erasure_steps():
        if step.lock is not None:
            ids.update(step.lock(customer_id))
    return ids


def _destroy(ids: set[int], now: Any) -> list[int]:
    """Destroy the live keys of ``ids``. Taken ``FOR UPDATE`` last: writers that are storing
    values under them (``FOR SHARE``, portal.crypto) commit first, and their values become
    unreadable with the rest; later writers find them destroyed. (Writers lock their own row
    before the key; the erasure locks rows before the key too, so neither waits for the
    other in a cycle.)"""
    keys = list(
        DataKey.objects.select_for_update()
        .filter(pk__in=ids, destroyed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    DataKey.objects.filter(pk__in=keys).update(wrapped="", destroyed_at=now)
    return keys


def _describe(customer_id: int) -> str | None:
    for step in registry.erasure_steps():
        if step.describe is not None:
            return step.describe(customer_id)
    return None


def _blockers(customer_id: int) -> list[str]:
    holds = holds_active()
    reasons = [
        f"Export #{pk} is being built and may include this customer: wait until it is done."
        for pk, filters in RecordExport.objects.filter(
            status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]
        ).values_list("pk", "filters")
        if (filters or {}).get("customer_id") in (None, customer_id)
    ]
    held = LegalHold.objects.filter(
        kind=SUBJECT, target_id=customer_id, released_at__isnull=True
    ).values_list("case_reference", flat=True)
    reasons += [f"A legal hold applies to this customer (case {case})." for case in held]
    for step in registry.erasure_steps():
        reasons += step.blockers(customer_id, holds)
    return reasons


def _classes() -> dict[str, str]:
    classes = {}
    for step in registry.erasure_steps():
        classes.update(step.classes)
    classes[EXPORTS] = "Exports that may hold the customer's records (their files)"
    return classes


def erasure_preview(*, actor: AnyUser, customer_id: int) -> ErasurePreview:
    """What erasing ``customer_id`` would do, or why it may not happen now."""
    if not can(actor, Action.ERASE_PERSONAL_DATA):
        raise PermissionDenied("Only compliance erases personal data.")
    reference = _describe(customer_id)
    preview = ErasurePreview(customer_id, reference, classes=_classes())
    if reference is not None:
        preview.blockers = _blockers(customer_id)
    return preview


def _erase_exports(customer_id: int, certificate_hint: str) -> tuple[int, list[str]]:
    """Delete the files of finished exports that may hold the customer (any without a
    customer filter, or with theirs); exports a hold on their requester keeps stay."""
    held_users = holds_active().of("user")
    deleted, kept = 0, []
    rows = RecordExport.objects.select_for_update().filter(status=ExportStatus.DONE)
    for export in rows.exclude(file=""):
        if export.filters.get("customer_id") not in (None, customer_id):
            continue
        if export.requested_by_id in held_users:
            kept.append(f"Export #{export.pk}: a legal hold on its requester keeps it.")
            continue
        delete_files_on_commit([export.file])
        RecordExport.objects.filter(pk=export.pk).update(
            file="",
            status=ExportStatus.FAILED,
            error=f"Deleted: it may hold personal data erased under {certificate_hint}.",
        )
        deleted += 1
    return deleted, kept


def certificate_payload(certificate: ErasureCertificate) -> bytes:
    """The signed content of a certificate (canonical JSON)."""
    return json.dumps(
        {
            "certificate": certificate.pk,
            "subject_type": certificate.subject_type,
            "subject_id": certificate.subject_id,
            "subject_reference": certificate.subject_reference,
            "request_reference": certificate.request_reference,
            "performed_by": certificate.performed_by_name,
            "performed_by_id": certificate.performed_by_id,
            "performed_at": certificate.performed_at.isoformat(),
            "classes": certificate.classes,
            "data_keys_destroyed": certificate.data_keys_destroyed,
            "data_key_ids": certificate.data_key_ids,
            "audit_event_id": certificate.audit_event_id,
            "kept": certificate.kept,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def certificate_document(certificate: ErasureCertificate) -> dict[str, Any]:
    """The downloadable certificate: its content, signature and whether it still verifies."""
    payload = certificate_payload(certificate)
    return {
        **json.loads(payload),
        "backups": BACKUPS_NOTE,
        "signature": {
            "algorithm": "HMAC-SHA256",
            "key_id": certificate.key_id,
            "value": certificate.signature,
            "valid": document_signed(payload, certificate.key_id, certificate.signature),
        },
    }


def customer_erase(
    *, actor: AnyUser, customer_id: int, request_reference: str
) -> ErasureCertificate:
    """Erase a customer's personal data; the certificate. ``ErasureRefused`` (with the
    reasons) while a hold or an obligation to keep applies; ``ValidationError`` for bad
    input or no such customer."""
    if not can(actor, Action.ERASE_PERSONAL_DATA):
        raise PermissionDenied("Only compliance erases personal data.")
    request_reference = request_reference.strip()
    if not request_reference or len(request_reference) > 100:
        raise ValidationError(
            {"request_reference": "The request's reference (at most 100 characters) is required."}
        )
    with transaction.atomic():
        holds_lock()
        key_ids = _lock(customer_id)
        reference = _describe(customer_id)
        if reference is None:
            raise ValidationError({"customer_id": "No such customer."})
        reasons = _blockers(customer_id)
        if reasons:
            raise ErasureRefused(reasons)
        now = timezone.now()
        certificate = ErasureCertificate.objects.create(
            subject_type=SUBJECT,
            subject_id=customer_id,
            subject_reference=reference,
            request_reference=request_reference,
            performed_by=cast(User, actor),
            performed_by_name=actor.get_username(),
            performed_at=now,
        )
        counts: dict[str, int] = {}
        for step in registry.erasure_steps():
            counts.update(step.erase(customer_id))
        counts[EXPORTS], kept = _erase_exports(customer_id, f"certificate #{certificate.pk}")
        keys = _destroy(key_ids, now)
        labels = _classes()
        certificate.classes = {
            name: {"label": labels.get(name, name), "records": count}
            for name, count in sorted(counts.items())
        }
        certificate.data_keys_destroyed = len(keys)
        certificate.data_key_ids = keys
        certificate.kept = kept
        event = audit_event_record(
            action="records.erased",
            actor=actor,
            target=certificate,
            details={
                "customer_id": customer_id,
                "certificate_id": certificate.pk,
                "records": counts,
                "data_key_ids": keys,
                "kept": len(kept),
            },
        )
        certificate.audit_event_id = event.pk
        certificate.key_id, certificate.signature = document_sign(certificate_payload(certificate))
        certificate.save()
        transaction.on_commit(lambda: _after_commit(keys), robust=True)
    for key_id in keys:  # this process forgets them now, the others within seconds
        data_keys_forget(key_id)
    return certificate


def _after_commit(keys: list[int]) -> None:
    for key_id in keys:
        data_keys_forget(key_id)
    # The destroyed keys' previous row versions are dead tuples until vacuumed: vacuum now
    # (not possible inside a transaction: then autovacuum gets there).
    if connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM portal_datakey")
    except Exception:  # autovacuum gets there too; the erasure stands
        log.warning("VACUUM portal_datakey after an erasure failed", exc_info=True)


def certificates_listed(actor: AnyUser) -> list[ErasureCertificate]:
    if not can(actor, Action.VIEW_AUDIT):
        raise PermissionDenied("Only who reads the audit trail sees erasure certificates.")
    return list(ErasureCertificate.objects.select_related("performed_by")[:200])


def certificate_get(actor: AnyUser, certificate_id: int) -> ErasureCertificate:
    if not can(actor, Action.VIEW_AUDIT):
        raise ErasureCertificate.DoesNotExist("No such certificate.")
    return ErasureCertificate.objects.select_related("performed_by").get(pk=certificate_id)
