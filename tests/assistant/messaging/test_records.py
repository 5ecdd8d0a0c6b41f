"""Secure threads as records: purged after their retention once closed (with their files),
kept under a legal hold on their customer or on a person who wrote in them, and exported
with the portal's record exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from assistant.messaging.models import MessageAttachment, SecureMessage, Thread
from assistant.messaging.services.threads import (
    message_retract,
    note_add,
    staff_reply_send,
    thread_close,
    thread_start,
)
from portal.models import AuditEvent
from portal.records.retention import legal_hold_place, retention_purge
from portal.registry import RecordFilter, record_sources

pytestmark = pytest.mark.django_db


def _closed_thread(customer_user: Any, agent: Any, days_ago: int) -> Thread:
    thread = thread_start(
        user=customer_user,
        subject="Old question",
        category="general",
        body="A question.",
        attachments=[SimpleUploadedFile("r.txt", b"receipt text", "text/plain")],
    )
    staff_reply_send(user=agent, thread=thread, body="An answer.")
    thread_close(user=agent, thread=thread)
    Thread.objects.filter(pk=thread.pk).update(
        last_message_at=timezone.now() - timedelta(days=days_ago)
    )
    return thread


def test_closed_threads_go_after_their_retention_with_their_files(
    customer_user: Any,
    staff: dict[str, Any],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "secure_threads": 365}
    old = _closed_thread(customer_user, staff["agent"], days_ago=400)
    recent = _closed_thread(customer_user, staff["agent"], days_ago=100)
    still_open = thread_start(user=customer_user, subject="Open", category="general", body="Hi")
    Thread.objects.filter(pk=still_open.pk).update(
        last_message_at=timezone.now() - timedelta(days=900)
    )
    stored = MessageAttachment.objects.get(message__thread=old).file.name
    with django_capture_on_commit_callbacks(execute=True):
        counts = retention_purge()
    assert counts["secure_threads"] == 1
    assert set(Thread.objects.values_list("pk", flat=True)) == {recent.pk, still_open.pk}
    assert not SecureMessage.objects.filter(thread_id=old.pk).exists()
    assert not storages["default"].exists(stored)
    event = AuditEvent.objects.get(action="records.purged", details__class="secure_threads")
    assert event.details["count"] == 1


@pytest.mark.parametrize("kind", ["customer", "user"])
def test_a_legal_hold_keeps_the_thread(
    customer_user: Any, staff: dict[str, Any], settings: Any, kind: str
) -> None:
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "secure_threads": 365}
    old = _closed_thread(customer_user, staff["agent"], days_ago=400)
    target = old.customer_id if kind == "customer" else staff["agent"].pk
    legal_hold_place(
        actor=staff["compliance"],
        kind=kind,
        target_id=str(target),
        reason="Complaint",
        case_reference="CASE-7",
    )
    assert retention_purge()["secure_threads"] == 0
    assert Thread.objects.filter(pk=old.pk).exists()


def test_the_record_export_holds_every_message_of_the_customer(
    customer_user: Any, other_customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _closed_thread(customer_user, staff["agent"], days_ago=1)
    note_add(user=staff["agent"], thread=thread, body="Called the customer.")
    withdrawn = staff_reply_send(user=staff["agent"], thread=thread, body="Wrong answer.")
    message_retract(user=staff["agent"], message=withdrawn)
    thread_start(user=other_customer_user, subject="Theirs", category="general", body="Other")
    source = next(s for s in record_sources() if s.name == "secure_messages")
    rows = list(source.rows(RecordFilter(customer_id=thread.customer_id)))
    assert [row["body"] for row in rows] == [
        "A question.",
        "An answer.",
        "Called the customer.",
        "Wrong answer.",
    ]
    assert rows[0]["attachments"][0]["filename"] == "r.txt"
    assert rows[0]["author_kind"] == "customer" and rows[0]["subject"] == "Old question"
    assert rows[2]["internal"] is True
    assert rows[3]["retracted_by"] == staff["agent"].get_username()
    assert set(source.columns) == set(rows[0])
    by_agent = list(source.rows(RecordFilter(user_id=staff["agent"].pk)))
    assert {row["body"] for row in by_agent} == {
        "An answer.",
        "Called the customer.",
        "Wrong answer.",
    }
