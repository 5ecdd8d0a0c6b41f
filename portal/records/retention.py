"""Retention and legal hold (docs/records.md, "Retention and legal hold").

Each app declares its retention classes (``portal.registry.RetentionClass``); how long each
is kept is ``RETENTION_DAYS[name]`` (days; 0 keeps forever). ``retention_purge`` (a daily
beat task) deletes what expired, in batches, and audits the counts per class
(``records.purged``), never the contents. Records under an active legal hold — on a
customer, a user, a conversation or a submission — are never purged until the hold is
released; placing and releasing holds (``manage_holds``) is audited and listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from portal import registry
from portal.models import LegalHold, RecordExport, UserSession
from portal.permissions import Action, can
from portal.registry import Holds, RetentionClass
from portal.services import audit_event_record
from portal.types import AnyUser, User

log = logging.getLogger(__name__)

BATCH = 500
KINDS = dict(LegalHold.KINDS)
MAX_REASON = 2000


# --- holds ---------------------------------------------------------------------------------


def holds_active() -> Holds:
    """What the active holds cover: their targets, and what the apps say those reach
    (``HoldExpansion``: e.g. a held conversation's linked submission)."""
    ids: dict[str, set[int]] = {}
    for kind, target in LegalHold.objects.filter(released_at__isnull=True).values_list(
        "kind", "target_id"
    ):
        ids.setdefault(kind, set()).add(target)
    base = Holds({kind: frozenset(values) for kind, values in ids.items()})
    for expansion in registry.hold_expansions():
        for kind, more in expansion.expand(base).items():
            ids.setdefault(kind, set()).update(more)
    return Holds({kind: frozenset(values) for kind, values in ids.items()})


def holds_lock() -> None:
    """One hold placement or erasure at a time (to the end of the transaction): an erasure
    sees every hold placed before it, and a hold placed during one waits for it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('portal.records.holds'))")


def holds_listed(actor: AnyUser) -> list[LegalHold]:
    if not can(actor, Action.VIEW_AUDIT):
        raise PermissionDenied("Only who reads the audit trail sees the legal holds.")
    return list(LegalHold.objects.select_related("placed_by", "released_by")[:500])


@transaction.atomic
def legal_hold_place(
    *, actor: AnyUser, kind: str, target_id: str, reason: str, case_reference: str
) -> LegalHold:
    if not can(actor, Action.MANAGE_HOLDS):
        raise PermissionDenied("Only compliance places legal holds.")
    holds_lock()
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = f"Choose one of {', '.join(KINDS)}."
    number = target_id.strip()
    if not (number.isascii() and number.isdigit()) or len(number) > 18:
        errors["target_id"] = "An id is a number."
    reason, case_reference = reason.strip(), case_reference.strip()
    if not reason or len(reason) > MAX_REASON:
        errors["reason"] = f"Say why (at most {MAX_REASON} characters)."
    if not case_reference or len(case_reference) > 100:
        errors["case_reference"] = "A case reference of at most 100 characters is required."
    if errors:
        raise ValidationError(errors)
    hold = LegalHold.objects.create(
        kind=kind,
        target_id=int(number),
        reason=reason,
        case_reference=case_reference,
        placed_by=cast(User, actor),
    )
    audit_event_record(
        action="records.hold_placed",
        actor=actor,
        target=hold,
        details={"kind": kind, "target_id": int(number), "case_reference": case_reference},
    )
    return hold


@transaction.atomic
def legal_hold_release(*, actor: AnyUser, hold: LegalHold, note: str = "") -> LegalHold:
    if not can(actor, Action.MANAGE_HOLDS):
        raise PermissionDenied("Only compliance releases legal holds.")
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        raise ValidationError("This hold was already released.")
    hold.released_at = timezone.now()
    hold.released_by = cast(User, actor)
    hold.release_note = note.strip()[:MAX_REASON]
    hold.save(update_fields=["released_at", "released_by", "release_note"])
    audit_event_record(
        action="records.hold_released",
        actor=actor,
        target=hold,
        details={
            "kind": hold.kind,
            "target_id": hold.target_id,
            "case_reference": hold.case_reference,
        },
    )
    return hold


# --- retention -----------------------------------------------------------------------------


def retention_days(name: str) -> int:
    return int(settings.RETENTION_DAYS.get(name, 0))


@dataclass
class RetentionRow:
    name: str
    label: str
    days: int
    pending: int
    hold_kinds: tuple[str, ...]


def retention_overview(actor: AnyUser) -> list[RetentionRow]:
    """Each class, how long it is kept and how many records would go at the next purge."""
    if not can(actor, Action.VIEW_AUDIT):
        raise PermissionDenied("Only who reads the audit trail sees retention.")
    holds, now, rows = holds_active(), timezone.now(), []
    for item in registry.retention_classes():
        days = retention_days(item.name)
        pending = item.pending(now - timedelta(days=days), holds) if days else 0
        rows.append(RetentionRow(item.name, item.label, days, pending, item.hold_kinds))
    return rows


MAX_BATCHES = 10_000  # per class and run: a purge that never runs dry stops here


def retention_purge(now: Any = None, batch: int = BATCH) -> dict[str, int]:
    """Purge every class's expired records not under hold, batch by batch: each batch in its
    own transaction, with the holds read again and its count audited (``records.purged``)
    in it, so nothing is deleted unrecorded. A class that fails is audited
    (``records.purge_failed``) and the others still run. Returns the counts per class."""
    now = now or timezone.now()
    purged: dict[str, int] = {}
    for item in registry.retention_classes():
        days = retention_days(item.name)
        if days <= 0:
            continue
        cutoff = now - timedelta(days=days)
        total = 0
        try:
            for _ in range(MAX_BATCHES):
                with transaction.atomic():
                    count = item.purge(cutoff, holds_active(), batch)
                    if count:
                        audit_event_record(
                            action="records.purged",
                            actor_username="retention",
                            details={
                                "class": item.name,
                                "count": count,
                                "cutoff": cutoff.isoformat(),
                            },
                        )
                total += count
                if count < batch:
                    break
        except Exception as failure:
            log.exception("Retention purge of %s failed", item.name)
            audit_event_record(
                action="records.purge_failed",
                actor_username="retention",
                details={"class": item.name, "purged": total, "error": type(failure).__name__},
            )
        purged[item.name] = total
    return purged


def delete_files_on_commit(files: list[Any]) -> None:
    """Delete stored files once the rows that named them are gone for good (a rolled-back
    purge keeps both)."""
    names = [(f.storage, f.name) for f in files if f]

    def delete() -> None:
        for storage, name in names:
            try:
                storage.delete(name)
            except Exception:  # disk or blob store: logged, and the other files still go
                log.exception("Could not delete the stored file %s.", name)

    transaction.on_commit(delete)


# --- the portal's own classes ------------------------------------------------------------


def _sessions(cutoff: Any, holds: Holds) -> Any:
    return UserSession.objects.filter(ended_at__lt=cutoff).exclude(user_id__in=holds.of("user"))


def _purge_sessions(cutoff: Any, holds: Holds, batch: int) -> int:
    ids = list(_sessions(cutoff, holds).values_list("pk", flat=True)[:batch])
    UserSession.objects.filter(pk__in=ids).delete()
    return len(ids)


def _exports(cutoff: Any, holds: Holds) -> Any:
    return RecordExport.objects.filter(created_at__lt=cutoff).exclude(
        requested_by_id__in=holds.of("user")
    )


def _purge_exports(cutoff: Any, holds: Holds, batch: int) -> int:
    rows = list(_exports(cutoff, holds)[:batch])
    delete_files_on_commit([export.file for export in rows])
    RecordExport.objects.filter(pk__in=[export.pk for export in rows]).delete()
    return len(rows)


def _login_failures(cutoff: Any) -> list[Any]:
    from axes.models import AccessAttempt, AccessFailureLog

    return [
        AccessAttempt.objects.filter(attempt_time__lt=cutoff),
        AccessFailureLog.objects.filter(attempt_time__lt=cutoff),
    ]


def _purge_login_failures(cutoff: Any, holds: Holds, batch: int) -> int:
    purged = 0
    for queryset in _login_failures(cutoff):
        ids = list(queryset.values_list("pk", flat=True)[: batch - purged])
        queryset.model.objects.filter(pk__in=ids).delete()
        purged += len(ids)
    return purged


PORTAL_CLASSES = (
    RetentionClass(
        "sessions",
        "Ended sign-in sessions",
        _purge_sessions,
        lambda cutoff, holds: _sessions(cutoff, holds).count(),
        ("user",),
        order=50,
    ),
    RetentionClass(
        "exports",
        "Exports for regulators (their files)",
        _purge_exports,
        lambda cutoff, holds: _exports(cutoff, holds).count(),
        ("user",),
        order=60,
    ),
    RetentionClass(
        "login_failures",
        "Failed sign-in records",
        _purge_login_failures,
        lambda cutoff, holds: sum(q.count() for q in _login_failures(cutoff)),
        order=70,
    ),
)
