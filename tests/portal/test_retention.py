"""Retention and legal hold (portal/records/retention.py): what expired is purged in
batches with its counts audited, what a hold keeps is kept until it is released."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone

from assistant.models import Conversation, Handoff, HandoffStatus, Message
from forms_app.demo import seed_forms
from forms_app.models import FormDefinition, FormSubmission, SubmissionAttachment, SubmissionStatus
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from knowledge.models import Document, DocumentVersion
from portal.models import AuditEvent, LegalHold, UserSession
from portal.permissions import Role
from portal.records.retention import (
    legal_hold_place,
    legal_hold_release,
    retention_overview,
    retention_purge,
)
from tests.knowledge.conftest import add_document, collections  # noqa: F401

pytestmark = pytest.mark.django_db

OLD = timezone.now() - timedelta(days=4000)


@pytest.fixture
def people(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    seed_customers(count=3)
    seed_forms()
    return {
        "agent": make_user("ret_agent", Role.AGENT, regions=[regions["north"]]),
        "agent2": make_user("ret_agent2", Role.AGENT, regions=[regions["north"]]),
        "compliance": make_user("ret_compliance", Role.COMPLIANCE),
        "admin": make_user("ret_admin", Role.ADMIN),
        "customers": list(Customer.objects.order_by("pk")),
    }


def _conversation(owner: Any, customer: Any = None, old: bool = True) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, customer=customer, title="t")
    Message.objects.create(conversation=conversation, role="user", content="secret question")
    if old:
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=OLD)
    return conversation


def _submission(people: dict[str, Any], status: str, user: str = "agent") -> FormSubmission:
    submission = FormSubmission.objects.create(
        definition=FormDefinition.objects.order_by("pk").first(),
        customer=people["customers"][2],
        submitted_by=people[user],
        status=status,
        data={},
    )
    FormSubmission.objects.filter(pk=submission.pk).update(updated_at=OLD)
    return submission


def test_expired_records_are_purged_and_held_ones_kept(
    people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    agent, customers = people["agent"], people["customers"]
    expired = _conversation(agent)
    of_held_customer = _conversation(agent, customers[0])
    held_itself = _conversation(agent)
    of_held_user = _conversation(people["agent2"])
    recent = _conversation(agent, old=False)
    with_open_handoff = _conversation(agent)
    Handoff.objects.create(conversation=with_open_handoff, reason="r", status=HandoffStatus.OPEN)
    Conversation.objects.filter(pk=with_open_handoff.pk).update(updated_at=OLD)
    approved = _submission(people, SubmissionStatus.APPROVED)
    attachment = SubmissionAttachment(
        submission=approved,
        field_key="evidence",
        original_filename="a.txt",
        content_type="text/plain",
        sha256="0" * 64,
        size_bytes=1,
        uploaded_by=agent,
    )
    attachment.file.save("a.txt", ContentFile(b"x"), save=False)
    attachment.save()
    attached_file = attachment.file.path
    in_review = _submission(people, SubmissionStatus.IN_REVIEW)
    held_submission = _submission(people, SubmissionStatus.REJECTED, user="agent2")
    compliance = people["compliance"]
    for kind, target in (
        ("customer", customers[0].pk),
        ("conversation", held_itself.pk),
        ("user", people["agent2"].pk),
    ):
        legal_hold_place(
            actor=compliance,
            kind=kind,
            target_id=str(target),
            reason="Litigation",
            case_reference="CASE-1",
        )
    # Reached only through what the assistant knows: a record put before the model, a
    # hand-off's customer, a hand-off's submission, an open hand-off's draft.
    by_record = _conversation(agent)
    Message.objects.create(
        conversation=by_record,
        role="assistant",
        content="a",
        source_record_ids=[{"type": "customer", "id": customers[0].pk}],
    )
    Conversation.objects.filter(pk=by_record.pk).update(updated_at=OLD)
    linked_draft = _submission(people, SubmissionStatus.DRAFT)
    expired_too = _conversation(agent)
    Handoff.objects.create(
        conversation=held_itself, reason="r", status=HandoffStatus.RESOLVED, submission=approved
    )
    Handoff.objects.create(
        conversation=with_open_handoff,
        reason="r",
        status=HandoffStatus.OPEN,
        submission=linked_draft,
    )
    Conversation.objects.filter(pk__in=[held_itself.pk, with_open_handoff.pk]).update(
        updated_at=OLD
    )
    with django_capture_on_commit_callbacks(execute=True):
        # Batches of 2: the loop must go on until done.
        purged = retention_purge(batch=2)
    assert purged["conversations"] == 2 and purged["submissions"] == 0
    kept = set(Conversation.objects.values_list("pk", flat=True))
    assert expired.pk not in kept and expired_too.pk not in kept
    assert {of_held_customer.pk, held_itself.pk, of_held_user.pk, recent.pk} <= kept
    assert {with_open_handoff.pk, by_record.pk} <= kept  # open work; a held customer's record
    submissions = set(FormSubmission.objects.values_list("pk", flat=True))
    # approved: linked by the held conversation's hand-off; the draft: by an open hand-off.
    assert {approved.pk, linked_draft.pk, in_review.pk, held_submission.pk} <= submissions
    import os

    events = AuditEvent.objects.filter(action="records.purged")
    assert sum(e.details["count"] for e in events if e.details["class"] == "conversations") == 2
    assert "secret question" not in str(list(events.values_list("details", flat=True)))
    # Released, the held records go at the next purge (files once committed).
    for hold in LegalHold.objects.all():
        legal_hold_release(actor=compliance, hold=hold, note="Case closed")
    assert os.path.exists(attached_file)
    with django_capture_on_commit_callbacks(execute=True):
        retention_purge()
    assert not os.path.exists(attached_file)
    assert set(Conversation.objects.values_list("pk", flat=True)) == {
        recent.pk,
        with_open_handoff.pk,
    }
    assert set(FormSubmission.objects.values_list("pk", flat=True)) == {
        in_review.pk,
        linked_draft.pk,
    }


def test_the_portal_classes_and_forever(
    people: dict[str, Any],
    settings: Any,
    collections: Any,  # noqa: F811
    add_document: Any,  # noqa: F811
) -> None:
    session = UserSession.objects.create(
        user=people["agent"],
        session_key="k" * 32,
        last_seen_at=OLD,
        ended_at=OLD,
        end_reason="logout",
    )
    document = add_document(collections["products-fees"], "Fees", "Card fee is 5 euros.")
    old_version = DocumentVersion.objects.create(document=document, number=0)
    old_version.file.save("v0.md", ContentFile(b"old"), save=True)
    # Replaced long ago: retention counts from the replacement, not the upload.
    DocumentVersion.objects.filter(document=document).update(created_at=OLD)
    live = Document.objects.get(pk=document.pk).live_version
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "conversations": 0}
    forever = _conversation(people["agent"])
    purged = retention_purge()
    assert purged["sessions"] == 1 and purged["document_versions"] == 1
    assert "conversations" not in purged and Conversation.objects.filter(pk=forever.pk).exists()
    assert not UserSession.objects.filter(pk=session.pk).exists()
    assert list(
        DocumentVersion.objects.filter(document=document).values_list("number", flat=True)
    ) == [live]
    rows = {row.name: row for row in retention_overview(people["admin"])}
    assert rows["conversations"].days == 0 and rows["sessions"].days == 90


def test_holds_are_compliances_and_checked(people: dict[str, Any]) -> None:
    for who in ("agent", "admin"):
        with pytest.raises(PermissionDenied):
            legal_hold_place(
                actor=people[who], kind="user", target_id="1", reason="r", case_reference="c"
            )
    for fields, key in (
        ({"kind": "planet"}, "kind"),
        ({"target_id": "1; DROP"}, "target_id"),
        ({"target_id": "\u00b2"}, "target_id"),
        ({"reason": " "}, "reason"),
        ({"case_reference": ""}, "case_reference"),
    ):
        values = {"kind": "user", "target_id": "1", "reason": "r", "case_reference": "c"}
        with pytest.raises(ValidationError) as invalid:
            legal_hold_place(actor=people["compliance"], **{**values, **fields})
        assert key in invalid.value.message_dict
    hold = legal_hold_place(
        actor=people["compliance"], kind="user", target_id="1", reason="r", case_reference="c"
    )
    legal_hold_release(actor=people["compliance"], hold=hold)
    with pytest.raises(ValidationError):
        legal_hold_release(actor=people["compliance"], hold=hold)
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-2:] == ["records.hold_placed", "records.hold_released"]


def test_the_page(people: dict[str, Any], client: Any) -> None:
    client.force_login(people["agent"])
    assert client.get("/audit/retention/").status_code == 403
    client.force_login(people["admin"])
    page = client.get("/audit/retention/")
    assert page.status_code == 200 and b"data-retention" in page.content
    assert b"data-hold-form" not in page.content  # admins read; compliance holds
    assert client.post("/audit/retention/", {"kind": "user"}).status_code == 403
    client.force_login(people["compliance"])
    bad = client.post("/audit/retention/", {"kind": "user", "target_id": "x"})
    assert bad.status_code == 400 and b"An id is a number." in bad.content
    done = client.post(
        "/audit/retention/",
        {"kind": "customer", "target_id": "7", "reason": "Subpoena", "case_reference": "C-9"},
    )
    assert done.status_code == 302
    hold = LegalHold.objects.get()
    assert b"C-9" in client.get("/audit/retention/").content
    client.force_login(people["admin"])
    assert client.post(f"/audit/holds/{hold.pk}/release/").status_code == 403
    client.force_login(people["compliance"])
    assert client.post(f"/audit/holds/{hold.pk}/release/", {"note": "done"}).status_code == 302
    assert LegalHold.objects.get().released_at is not None
    assert client.post("/audit/holds/999999/release/").status_code == 404
