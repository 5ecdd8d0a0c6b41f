"""Copy the files stored on this machine's disk into the configured file storage (Azure
Blob Storage or S3), checked by SHA-256; resumable; the local copies are kept unless
--delete-local."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage, storages
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models

from portal.services import audit_event_record
from portal.storage import EncryptedStorage

CHUNK = 1024 * 1024


def _sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while piece := handle.read(CHUNK):
        digest.update(piece)
    return digest.hexdigest()


def _stored_in_default(field: models.FileField) -> bool:
    """Fields whose files live in the default storage: plain ones (documents) and
    encrypted ones (whose ciphertext is there: it is copied as it is)."""
    return isinstance(field.storage, EncryptedStorage) or field.storage is default_storage


class Command(BaseCommand):
    help = (
        "Copy every stored file (documents and their versions, submission attachments, "
        "exports) from the local disk (MEDIA_ROOT, or --source) into the file storage of "
        "STORAGE_BACKEND, under the same name, each checked by SHA-256 after the copy. "
        "Resumable: a file already there with the same SHA-256 is skipped. Encrypted files "
        "are copied encrypted. --delete-local removes each local file once its copy checked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", default="", help="The local folder (default MEDIA_ROOT).")
        parser.add_argument("--delete-local", action="store_true")
        parser.add_argument(
            "--allow-missing",
            action="store_true",
            help="Exit 0 even if files the database names are on neither side.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target: Storage = storages["default"]
        if isinstance(target, FileSystemStorage):
            raise CommandError(
                "STORAGE_BACKEND is local: set it to azure or s3 (with its settings) first."
            )
        source = FileSystemStorage(location=options["source"] or settings.MEDIA_ROOT)
        counts = {"copied": 0, "already": 0, "missing": 0, "failed": 0}
        seen: set[str] = set()  # a document and its live version share their file
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, models.FileField) or not _stored_in_default(field):
                    continue
                names = (
                    model._base_manager.exclude(**{field.attname: ""})
                    .order_by("pk")
                    .values_list(field.attname, flat=True)
                )
                for name in names.iterator(chunk_size=500):
                    if name in seen:
                        continue
                    seen.add(name)
                    outcome = self._copy(source, target, str(name), options["delete_local"])
                    counts[outcome] += 1
                    if outcome in ("missing", "failed"):
                        self.stderr.write(f"  {outcome}: {model._meta.label}.{field.name} {name}")
        audit_event_record(
            action="files.moved_to_storage",
            actor_username="system",
            details={"backend": settings.STORAGE_BACKEND, **counts},
        )
        summary = (
            f"{counts['copied']} file(s) copied, {counts['already']} already there, "
            f"{counts['missing']} missing locally, {counts['failed']} failed the check."
        )
        if counts["failed"] or (counts["missing"] and not options["allow_missing"]):
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _copy(self, source: Storage, target: Storage, name: str, delete_local: bool) -> str:
        local = source.exists(name)
        if not local:
            return "already" if target.exists(name) else "missing"
        with source.open(name, "rb") as handle:
            expected = _sha256(handle)
        if target.exists(name):
            with target.open(name, "rb") as handle:
                if _sha256(handle) == expected:
                    self._delete_local(source, name, delete_local)
                    return "already"
            target.delete(name)  # a partial or different copy from an interrupted run
        with source.open(name, "rb") as handle:
            stored = target.save(name, File(handle, Path(name).name))
        if stored != name:
            target.delete(stored)
            return "failed"
        with target.open(name, "rb") as handle:
            if _sha256(handle) != expected:
                target.delete(name)
                return "failed"
        self._delete_local(source, name, delete_local)
        return "copied"

    @staticmethod
    def _delete_local(source: Storage, name: str, delete_local: bool) -> None:
        if delete_local:
            source.delete(name)
