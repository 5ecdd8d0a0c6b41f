"""Encrypt the files stored before their field was encrypted (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.services import audit_event_record
from portal.storage import encrypt_stored_files, encrypted_file_fields


class Command(BaseCommand):
    help = (
        "Encrypt every plaintext file of an encrypted file field (submission attachments "
        "stored before encryption at rest), under a new name, with the first "
        "FIELD_ENCRYPTION_KEYS key. Files already encrypted are left as they are; run it "
        "again at any time. rotate_field_keys does this too."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        encrypted = 0
        missing = 0
        for model, file_field in encrypted_file_fields():
            counts = encrypt_stored_files(model, file_field, rotate=False)
            encrypted += counts.encrypted
            missing += len(counts.missing)
            self.stdout.write(
                f"  {model._meta.label}.{file_field.name}: {counts.encrypted} encrypted, "
                f"{counts.already} already encrypted, {len(counts.missing)} missing"
            )
            for name in counts.missing:
                self.stderr.write(f"  missing file: {name}")
        audit_event_record(
            action="stored_files.encrypted",
            actor_username="system",
            details={"files": encrypted, "missing": missing},
        )
        self.stdout.write(self.style.SUCCESS(f"{encrypted} plaintext file(s) encrypted."))
