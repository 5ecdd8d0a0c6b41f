"""Exports for regulators and eDiscovery: the records of a period, a user or a customer.

An export is a ZIP holding, for each record source (the audit trail here; conversations with
their answers and sources, submissions with their history, from the apps through
``portal.registry.register_record_source``), ``<source>.jsonl`` (one record per line) and
``<source>.csv`` (the same records, nested values as JSON text, formula cells neutralised),
and ``manifest.json``: the filters, who asked and when, each file's record count, size and
SHA-256, and the audit chain's head with a verification of the chain at export time.

``records_export_request`` (who reads the audit trail) records the request and queues
``portal.tasks.records_export_task``, which writes the files as it reads the rows (flat
memory), reports progress, and stores the ZIP encrypted at rest. Only who asked downloads
it (``records_export_open``). Asking, finishing and downloading are audited.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, cast

from celery import current_app
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date

from portal import audit_chain, registry
from portal.formatting import csv_safe
from portal.models import AuditEvent, ExportStatus, RecordExport
from portal.permissions import Action, can
from portal.registry import RecordFilter, RecordSource
from portal.services import audit_event_record
from portal.types import AnyUser, User

PROGRESS_EVERY = 500
EXPORT_TASK = "portal.records.tasks.records_export_task"
AUDIT_COLUMNS = (
    "seq",
    "hash",
    "created_at",
    "actor_username",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "ip_address",
    "details",
)


def _may_export(actor: AnyUser) -> None:
    if not (can(actor, Action.VIEW_AUDIT) and can(actor, Action.SUPERVISE_ANSWERS)):
        raise PermissionDenied("Only compliance exports records.")


def exports_visible_to(actor: AnyUser) -> QuerySet[RecordExport]:
    """Every export, for compliance (the list says who asked for what). An export holds
    every answer and submission whole: it is compliance's (``supervise_answers`` with
    ``view_audit``), not every reader of the audit trail's."""
    if not (can(actor, Action.VIEW_AUDIT) and can(actor, Action.SUPERVISE_ANSWERS)):
        return RecordExport.objects.none()
    return RecordExport.objects.select_related("requested_by")


# --- asking --------------------------------------------------------------------------------


def _day(value: str, label: str, end: bool = False) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = parse_date(value) if len(value) <= 10 else None
    except ValueError:  # well formed, but no such day (2026-02-30)
        day = None
    if day is None:
        raise ValidationError({label: "A date like 2026-11-30."})
    moment = datetime.combine(day, datetime.max.time() if end else datetime.min.time())
    return timezone.make_aware(moment)


@transaction.atomic
def records_export_request(
    *, actor: AnyUser, start: str = "", end: str = "", username: str = "", customer_id: str = ""
) -> RecordExport:
    """Record an export of the period [start, end] (dates, both optional), of one user
    (by user name) and/or one customer (by id), and queue it."""
    _may_export(actor)
    filters: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        first, last = _day(start, "start"), _day(end, "end", end=True)
    except ValidationError as invalid:
        raise invalid from None
    if first and last and first > last:
        errors["end"] = "The end is before the start."
    if first:
        filters["start"] = first.isoformat()
    if last:
        filters["end"] = last.isoformat()
    if username.strip():
        user = get_user_model().objects.filter(username=username.strip()).first()
        if user is None:
            errors["username"] = "No user with that user name."
        else:
            filters["user_id"], filters["user"] = user.pk, user.get_username()
    if customer_id.strip():
        number = customer_id.strip()
        if not (number.isascii() and number.isdigit()) or len(number) > 12:
            errors["customer_id"] = "A customer id is a number."
        else:
            filters["customer_id"] = int(number)
    if errors:
        raise ValidationError(errors)
    export = RecordExport.objects.create(requested_by=cast(User, actor), filters=filters)
    audit_event_record(
        action="records.export_requested", actor=actor, target=export, details={**filters}
    )
    # By name: portal.records.tasks imports this module.
    transaction.on_commit(lambda: current_app.send_task(EXPORT_TASK, args=[export.pk]))
    return export


def record_filter(filters: dict[str, Any]) -> RecordFilter:
    def when(key: str) -> datetime | None:
        value = filters.get(key)
        return datetime.fromisoformat(value) if value else None

    return RecordFilter(
        start=when("start"),
        end=when("end"),
        user_id=filters.get("user_id"),
        customer_id=filters.get("customer_id"),
    )


# --- the audit trail as a record source ------------------------------------------------


def _audit_rows(selection: RecordFilter) -> Iterator[dict[str, Any]]:
    events = AuditEvent.objects.filter(seq__isnull=False).order_by("seq")
    events = selection.in_period(events)
    if selection.user_id:
        events = events.filter(
            Q(actor_id=selection.user_id)
            | Q(target_type="auth.user", target_id=str(selection.user_id))
        )
    if selection.customer_id:
        events = events.filter(
            Q(target_type="customers.customer", target_id=str(selection.customer_id))
            | Q(details__customer_id=selection.customer_id)
            # An answer given from the customer's record.
            | Q(details__record_ids__contains=[{"id": selection.customer_id}])
        )
    for event in events.iterator(chunk_size=2000):
        yield {
            "seq": event.seq,
            "hash": event.hash,
            "created_at": event.created_at.isoformat(),
            "actor_username": event.actor_username,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "request_id": event.request_id,
            "ip_address": event.ip_address or "",
            "details": event.details,
        }


AUDIT_SOURCE = RecordSource(
    name="audit", label="Audit events", columns=AUDIT_COLUMNS, rows=_audit_rows, order=0
)


# --- building ------------------------------------------------------------------------------


class _Hashing(io.RawIOBase):
    """Counts and hashes what is written through it into a ZIP member."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        self.digest.update(view)
        self.size += len(view)
        self.target.write(view)
        return len(view)


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return csv_safe("" if value is None else str(value))


def _write_source(
    archive: zipfile.ZipFile,
    source: RecordSource,
    selection: RecordFilter,
    export: RecordExport,
) -> list[dict[str, Any]]:
    """``<source>.jsonl`` straight into the ZIP and ``<source>.csv`` through a temporary
    file (a ZIP takes one member at a time), from one pass over the rows."""
    count = 0
    with tempfile.TemporaryFile() as csv_file:
        csv_hash = _Hashing(csv_file)
        with archive.open(f"{source.name}.jsonl", "w", force_zip64=True) as jsonl_member:
            jsonl = _Hashing(jsonl_member)
            csv_text = io.TextIOWrapper(
                cast(IO[bytes], csv_hash), encoding="utf-8", newline="", write_through=True
            )
            writer = csv.writer(csv_text)
            writer.writerow(source.columns)
            for row in source.rows(selection):
                line = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str) + "\n"
                jsonl.write(line.encode("utf-8"))
                writer.writerow([_cell(row.get(column)) for column in source.columns])
                count += 1
                if count % PROGRESS_EVERY == 0:
                    RecordExport.objects.filter(pk=export.pk).update(
                        progress={**export.progress, source.name: count}
                    )
            csv_text.flush()
            csv_text.detach()
        csv_file.seek(0)
        with archive.open(f"{source.name}.csv", "w", force_zip64=True) as csv_member:
            for piece in iter(lambda: csv_file.read(1 << 20), b""):
                csv_member.write(piece)
    export.progress = {**export.progress, source.name: count}
    return [
        {
            "name": f"{source.name}.jsonl",
            "records": count,
            "bytes": jsonl.size,
            "sha256": jsonl.digest.hexdigest(),
        },
        {
            "name": f"{source.name}.csv",
            "records": count,
            "bytes": csv_hash.size,
            "sha256": csv_hash.digest.hexdigest(),
        },
    ]


def records_export_build(export_id: int) -> RecordExport | None:
    """Build the export (the Celery task's work): every source's files, the manifest, the
    ZIP stored encrypted. A failure is kept on the row (and audited), never half a file."""
    export = RecordExport.objects.filter(pk=export_id).first()
    if export is None or export.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        return export  # gone (purged), or built already (a redelivered message)
    RecordExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING, started_at=timezone.now()
    )
    selection = record_filter(export.filters)
    try:
        chain = audit_chain.verify(limit=1)
        with tempfile.TemporaryFile() as temporary:
            files: list[dict[str, Any]] = []
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for source in [AUDIT_SOURCE, *registry.record_sources()]:
                    files += _write_source(archive, source, selection, export)
                manifest = {
                    "export": export.pk,
                    "requested_by": export.requested_by.get_username(),
                    "requested_at": export.created_at.isoformat(),
                    "built_at": timezone.now().isoformat(),
                    "filters": export.filters,
                    "files": files,
                    "audit_chain": {
                        "head_seq": chain.last_seq,
                        "head_hash": chain.head_hash,
                        "verified": chain.ok,
                        "anchors_checked": chain.anchors_checked,
                    },
                }
                archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
            temporary.seek(0)
            digest = hashlib.sha256()
            for piece in iter(lambda: temporary.read(1 << 20), b""):
                digest.update(piece)
            size = temporary.tell()
            temporary.seek(0)
            export.file.save(f"export-{export.pk}.zip", File(temporary), save=False)
    except Exception as failure:  # recorded on the row and in the trail, then re-raised
        RecordExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED, finished_at=timezone.now(), error=str(failure)[:500]
        )
        audit_event_record(
            action="records.export_failed",
            actor_username="system",
            target=export,
            details={"error": type(failure).__name__},
        )
        raise
    export.status = ExportStatus.DONE
    export.finished_at = timezone.now()
    export.manifest = manifest
    export.size_bytes = size
    export.sha256 = digest.hexdigest()
    export.save(
        update_fields=[
            "status",
            "finished_at",
            "manifest",
            "size_bytes",
            "sha256",
            "file",
            "progress",
        ]
    )
    audit_event_record(
        action="records.export_built",
        actor_username="system",
        target=export,
        details={
            "records": {f["name"]: f["records"] for f in files if f["name"].endswith(".jsonl")},
            "sha256": export.sha256,
            "chain_head": chain.head_hash,
        },
    )
    return export


def records_export_open(*, actor: AnyUser, export_id: int) -> IO[bytes]:
    """The ZIP (decrypted as it is read) for who asked for it; audited. Anyone else, or an
    export not done, gets ``RecordExport.DoesNotExist``."""
    export = RecordExport.objects.filter(
        pk=export_id, requested_by_id=getattr(actor, "pk", None), status=ExportStatus.DONE
    ).first()
    if export is None or not exports_visible_to(actor).filter(pk=export.pk).exists():
        raise RecordExport.DoesNotExist("No such export.")
    audit_event_record(
        action="records.export_downloaded",
        actor=actor,
        target=export,
        details={"sha256": export.sha256},
    )
    return export.file.open("rb")
