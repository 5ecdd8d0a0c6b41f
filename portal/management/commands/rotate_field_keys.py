"""Re-encrypt every encrypted column and encrypted file with the first key of
FIELD_ENCRYPTION_KEYS (data keys are re-wrapped: ``DataKey.wrapped`` is such a column), and
move values that belong to a customer but are still under the project keys (stored before
per-customer data keys existed) under their customer's data key."""

from __future__ import annotations

from typing import Any, cast

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from portal.crypto import DataKeyDestroyed, encrypted_fields, rotate
from portal.services import audit_event_record
from portal.storage import encrypt_stored_files, encrypted_file_fields

BATCH = 1000


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (customer fields, submission data, assistant "
        "messages) and every encrypted file (submission attachments; plaintext ones are "
        "encrypted) with the first FIELD_ENCRYPTION_KEYS key. "
        "Put the new key first, keep the old ones, run this, then remove the old keys. "
        "Values of a customer still under the project keys move under the customer's own "
        "data key (erasure destroys it)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        quote = connection.ops.quote_name
        for model in apps.get_models():
            columns = [field.column for field in encrypted_fields(model)]
            if not columns:
                continue
            table = quote(model._meta.db_table)
            pk = quote(model._meta.pk.column)
            for column in columns:
                count = self._rotate_column(table, pk, quote(column))
                total += count
                self.stdout.write(f"  {model._meta.label}.{column}: {count} value(s)")
        moved, skipped = self._adopt_data_keys()
        self.stdout.write(
            f"  {moved} row(s) moved under their customer's data key"
            + (f", {skipped} of erased customers left as they are" if skipped else "")
        )
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
            details={"values": total, "files": files, "moved_to_data_keys": moved},
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

    def _adopt_data_keys(self) -> tuple[int, int]:
        """Re-save, through the model (whose fields encrypt under the row's data key), every
        row of a model with ``personal_data_key_id`` that still holds a value under the
        project keys; the model owning the keys (a ``data_key`` field) first."""
        quote = connection.ops.quote_name
        owners = [
            model
            for model in apps.get_models()
            if callable(getattr(model, "personal_data_key_id", None))
        ]
        owners.sort(key=lambda model: 0 if _owns_keys(model) else 1)
        moved = skipped = 0
        for model in owners:
            fields = encrypted_fields(model)
            if not fields:
                continue
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            where = " OR ".join(
                f"({quote(f.column)} <> '' AND {quote(f.column)} NOT LIKE 'dk1:%%')" for f in fields
            )
            if _owns_keys(model):
                where += " OR (data_key_id IS NULL AND erased_at IS NULL)"
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {pk} FROM {table} WHERE {where} ORDER BY {pk}")  # noqa: S608
                ids = [row[0] for row in cursor.fetchall()]
            names = [f.name for f in fields]
            for start in range(0, len(ids), BATCH):
                with transaction.atomic():
                    batch = ids[start : start + BATCH]
                    # Locked: an edit or an erasure meanwhile is not overwritten.
                    for row in model._default_manager.select_for_update().filter(pk__in=batch):
                        if getattr(row, "erased_at", None) is not None:
                            continue  # erased meanwhile: its values are gone
                        if not _owns_keys(model) and cast(Any, row).personal_data_key_id() is None:
                            continue  # not about a customer: stays under the project keys
                        try:
                            with transaction.atomic():
                                row.save(update_fields=names)
                        except DataKeyDestroyed:
                            skipped += 1  # erased: its values were overwritten already
                        else:
                            moved += 1
        return moved, skipped


def _owns_keys(model: Any) -> bool:
    return any(field.name == "data_key" for field in model._meta.concrete_fields)
