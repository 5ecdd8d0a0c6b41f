"""portal.migration_ops: existing rows of a column that becomes encrypted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from portal import migration_ops
from portal.crypto import decrypt

pytestmark = pytest.mark.django_db


def _values() -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT v FROM enc_probe ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(migration_ops, "BATCH", 2)  # several batches
    plain = ["Jane Doe asked about 123-45-6789", "", '[{"title": "Jane Doe"}]', "x", "y"]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE enc_probe (id serial PRIMARY KEY, v text)")
        cursor.executemany("INSERT INTO enc_probe (v) VALUES (%s)", [(v,) for v in plain])
        cursor.execute("INSERT INTO enc_probe (v) VALUES (NULL)")
    return plain


def test_encrypts_in_batches_idempotently_and_reverses(probe: list[str]) -> None:
    def convert(function: Any) -> int:
        return migration_ops.convert_column(connection, "enc_probe", "id", "v", function)

    assert convert(migration_ops._encrypted) == 4  # empty and NULL values stay as they are
    stored = _values()
    assert stored[1] == "" and stored[5] is None
    assert all(value.startswith("gAAAA") for value in stored[:5] if value)
    assert "Jane" not in " ".join(v for v in stored if v)
    assert [decrypt(v) if v else v for v in stored[:5]] == probe
    assert json.loads(decrypt(stored[2])) == [{"title": "Jane Doe"}]
    assert convert(migration_ops._encrypted) == 0  # twice: nothing changes
    assert _values() == stored
    assert convert(migration_ops._decrypted) == 4
    assert _values()[:5] == probe
