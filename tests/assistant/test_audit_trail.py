"""The audit trail of a conversation naming a customer holds ids and fingerprints, never
the typed text (portal.audit)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from portal.audit import fingerprint
from portal.models import AuditEvent
from tests.assistant.test_encryption import talk  # noqa: F401 - the shared fixture
from tests.knowledge.conftest import collections, role_users  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_audit_trail_holds_no_typed_text(talk: dict[str, Any]) -> None:  # noqa: F811
    """The question, the search for the customer, the tool call, the hand-off reason and the
    feedback comment are audited as ids and fingerprints (portal.audit)."""
    name = talk["name"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT action, details::text FROM portal_auditevent")
        rows = cursor.fetchall()
    actions = {action for action, _ in rows}
    assert {
        "assistant.answer",
        "customer.searched",
        "assistant.handoff_create",
        "assistant.feedback",
    } <= actions
    leaked = [action for action, details in rows if name in details or name.lower() in details]
    assert leaked == []
    answer_event = AuditEvent.objects.get(action="assistant.answer")
    assert answer_event.target_id == str(talk["message"].pk)
    assert answer_event.details["question"] == fingerprint(f"/customer {name}")
    searched = AuditEvent.objects.filter(action="customer.searched").latest("pk")
    assert searched.details["query"] == fingerprint(name) and searched.details["results"] >= 1
