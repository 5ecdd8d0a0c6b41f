"""The audit trail keeps fingerprints of typed text, never the text (portal.audit)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from portal.audit import conceal, fingerprint, minimised, typed
from portal.services import audit_event_record

pytestmark = pytest.mark.django_db

NAME = "Jane Q. Customer"
TAX_ID = "123-45-6789"


def test_fingerprints_ignore_case_and_spacing_and_depend_on_the_key(settings: Any) -> None:
    spaced = "  jane q.   CUSTOMER "
    assert fingerprint(spaced) == fingerprint(NAME) | {"chars": len(spaced)}
    assert fingerprint(NAME)["fingerprint"] != fingerprint(TAX_ID)["fingerprint"]
    assert len(fingerprint(NAME)["fingerprint"]) == 32
    before = fingerprint(NAME)
    settings.SECRET_KEY = "another-secret-key-" * 3
    assert fingerprint(NAME) != before
    assert fingerprint(NAME, secret="insecure-test-key-only-used-by-the-test-suite-0123456789")


def test_typed_keys_at_any_depth_and_typed_values_are_concealed() -> None:
    details = {
        "query": f"{NAME} {TAX_ID}",
        "results": 2,
        "tools": [
            {
                "name": "lookup_customer",
                "arguments": {"query": NAME, "customer_id": 5, "exact": True},
                "ok": True,
            }
        ],
        "citations": [{"n": 1, "type": "customer", "customer_id": 5, "title": f"CUS-1 {NAME}"}],
        "reason": typed(f"{NAME} is angry"),
        "code": "role",
    }
    kept = minimised(details)
    text = json.dumps(kept)
    assert "Jane" not in text and "6789" not in text
    assert kept["results"] == 2 and kept["code"] == "role"
    assert kept["tools"][0]["name"] == "lookup_customer" and kept["tools"][0]["ok"] is True
    assert kept["tools"][0]["arguments"] == {
        "query": fingerprint(NAME),
        "customer_id": 5,
        "exact": True,
    }
    assert kept["citations"] == [
        {"n": 1, "type": "customer", "customer_id": 5, "title": fingerprint(f"CUS-1 {NAME}")}
    ]
    assert kept["reason"] == fingerprint(f"{NAME} is angry")
    assert conceal(["a", 1, None]) == [fingerprint("a"), 1, None]


def test_the_stored_row_holds_no_typed_text() -> None:
    event = audit_event_record(
        action="customer.searched", details={"query": TAX_ID, "results": 1, "note": typed(NAME)}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT details::text FROM portal_auditevent WHERE id = %s", [event.pk])
        raw = cursor.fetchone()[0]
    assert TAX_ID not in raw and "Jane" not in raw
    assert json.loads(raw)["query"] == fingerprint(TAX_ID)
    # What an investigator looks for: the fingerprint of a tax id finds the search.
    out = io.StringIO()
    call_command("audit_fingerprint", " 123-45-6789 ", stdout=out)
    wanted = json.loads(out.getvalue().splitlines()[0].split(": ", 1)[1])["fingerprint"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM portal_auditevent WHERE details @> %s::jsonb",
            [json.dumps({"query": {"fingerprint": wanted}})],
        )
        assert [row[0] for row in cursor.fetchall()] == [event.pk]
