"""Re-encrypt every encrypted column and encrypted file with the first key of
FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from portal.crypto import EncryptedJSONField, EncryptedTextField, rotate
from portal.services import audit_event_record
from portal.storage import encrypt_stored_files, encrypted_file_fields

BATCH = 1000


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (customer fields, submission data, assistant "
        "messages) and every encrypted file (submission attachments; plaintext ones are "
        "encrypted) with the first FIELD_ENCRYPTION_KEYS key. "
        "Put the new key first, keep the old ones, run this, then remove the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        quote = connection.ops.quote_name
        for model in apps.get_models():
            columns = [
                field.column
                for field in model._meta.concrete_fields
                if isinstance(field, EncryptedTextField | EncryptedJSONField)
            ]
            if not columns:
                continue
            table = quote(model._meta.db_table)
            pk = quote(model._meta.pk.column)
            for column in columns:
                count = self._rotate_column(table, pk, quote(column))
                total += count
                self.stdout.write(f"  {model._meta.label}.{column}: {count} value(s)")
        files = 0
        for model, file_field in encrypted_file_fields():
            counts = encrypt_stored_files(model, file_field, rotate=True)
            files += counts.rotated + counts.encrypted
            self.stdout.write(
                f"  {model._meta.label}.{file_field.name} (files): {counts.rotated} "
                f"re-encrypted, {counts.encrypted} plaintext file(s) encrypted"
            )
            for name in counts.missing:
                self.stderr.write(f"  missing file: {name}")
        audit_event_record(
            action="field_keys.rotated",
            actor_username="system",
            details={"values": total, "files": files},
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{total} value(s) and {files} file(s) re-encrypted with the first key."
            )
        )

    def _rotate_column(self, table: str, pk: str, column: str) -> int:
        count = 0
        last: Any = None
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                # A value under a data key stays: rotating re-wraps its key (DataKey.wrapped).
                where = f"{column} <> '' AND {column} NOT LIKE 'dk1:%%'" + (
                    f" AND {pk} > %s" if last is not None else ""
                )
                params = [last] if last is not None else []
                cursor.execute(
                    f"SELECT {pk}, {column} FROM {table} WHERE {where} "  # noqa: S608 - quoted names
                    f"ORDER BY {pk} LIMIT {BATCH} FOR UPDATE",
                    params,
                )
                rows = cursor.fetchall()
                if not rows:
                    return count
                cursor.executemany(
                    f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                    [(rotate(value), key) for key, value in rows],
                )
                count += len(rows)
                last = rows[-1][0]
