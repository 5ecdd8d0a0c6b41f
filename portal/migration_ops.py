"""Migration helpers: existing rows of a column that becomes encrypted.

An ``AlterField`` to ``EncryptedTextField`` / ``EncryptedJSONField`` changes the column's
type (``jsonb`` and ``varchar`` become ``text``; the values are cast as they are) but not
its values: follow it with ``encrypt_columns(...)`` in the same migration::

    operations = [
        migrations.AlterField(model_name="message", name="content", field=EncryptedTextField()),
        encrypt_columns("assistant", "message", "content"),
    ]

The values are converted with SQL in batches of ``BATCH`` rows (keyset on the primary key),
so memory stays flat however large the table. A value that already decrypts is left as it
is (running it twice changes nothing). Reversed, the values are decrypted again before the
reversed ``AlterField`` casts them back (a JSON column back to ``jsonb``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations

from portal.crypto import FieldDecryptionError, decrypt, encrypt

BATCH = 1000


def _encrypted(value: str) -> str | None:
    try:
        decrypt(value)
    except FieldDecryptionError:
        return encrypt(value)
    return None


def _decrypted(value: str) -> str | None:
    try:
        return decrypt(value)
    except FieldDecryptionError:
        return None  # plaintext already


def convert_column(
    connection: Any, table: str, pk: str, column: str, convert: Callable[[str], str | None]
) -> int:
    """Apply ``convert`` to every non-empty value of ``table.column`` (``None``: unchanged);
    returns how many values changed."""
    quote = connection.ops.quote_name
    table, pk, column = quote(table), quote(pk), quote(column)
    changed = 0
    last: Any = None
    while True:
        with connection.cursor() as cursor:
            where = f"{column} IS NOT NULL AND {column} <> ''"
            params: list[Any] = []
            if last is not None:
                where += f" AND {pk} > %s"
                params.append(last)
            cursor.execute(
                f"SELECT {pk}, {column} FROM {table} WHERE {where} "  # noqa: S608 - quoted names
                f"ORDER BY {pk} LIMIT {BATCH}",
                params,
            )
            rows = cursor.fetchall()
            if not rows:
                return changed
            updates = [
                (new, key) for key, value in rows if (new := convert(str(value))) is not None
            ]
            if updates:
                cursor.executemany(
                    f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                    updates,
                )
            changed += len(updates)
            last = rows[-1][0]


def encrypt_columns(app_label: str, model_name: str, *fields: str) -> migrations.RunPython:
    """A ``RunPython`` that encrypts the existing values of ``fields`` (reversible)."""

    def run(convert: Callable[[str], str | None]) -> Callable[[Any, Any], None]:
        def operation(apps: Any, schema_editor: Any) -> None:
            model = apps.get_model(app_label, model_name)
            meta = model._meta
            for name in fields:
                convert_column(
                    schema_editor.connection,
                    meta.db_table,
                    meta.pk.column,
                    meta.get_field(name).column,
                    convert,
                )
            # Fire the deferred foreign-key checks the updates queued: PostgreSQL refuses to
            # ALTER a table with pending trigger events (the reversed AlterField that follows).
            schema_editor.connection.check_constraints()

        return operation

    return migrations.RunPython(run(_encrypted), run(_decrypted), elidable=False)
