"""Erasure of a customer's personal data by crypto-shredding (portal/records/erasure.py):
refused under a legal hold or a running obligation to keep; otherwise no readable value of
the customer remains in any table or file, copies taken before (a backup) cannot be
decrypted, other customers are untouched, the audit chain still verifies, and a signed
certificate is stored."""

from __future__ import annotations

import io
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import connection

from assistant.models import Conversation, Feedback, Handoff, HandoffStatus, Message
from forms_app.demo import seed_forms
from forms_app.models import (
    FormDefinition,
    FormSubmission,
    SubmissionAttachment,
    SubmissionEvent,
    SubmissionStatus,
)
from knowledge.customers.models import Account, Case, Customer, Transaction
from knowledge.customers.services import customer_upsert
from portal.audit_chain import verify
from portal.crypto import (
    ERASED,
    DataKeyDestroyed,
    EncryptedJSONField,
    EncryptedTextField,
    data_key_of,
    decrypt_stored,
)
from portal.models import AuditEvent, DataKey, ErasureCertificate, ExportStatus, RecordExport
from portal.permissions import Role
from portal.records.erasure import (
    ErasureRefused,
    certificate_document,
    customer_erase,
    erasure_preview,
)
from portal.records.retention import legal_hold_place, legal_hold_release

pytestmark = pytest.mark.django_db(transaction=True)

CANARIES = {
    "name": "Zebulon Canaryfield",
    "email": "zebulon.canaryfield@example.org",
    "tax_id": "987-65-4329",
    "address": "17 Canarywharf Lane",
    "account": "4000555566667777",
    "merchant": "Canarymart Stores",
    "case": "Canary case summary text",
    "submission": "Canary submission value",
    "decision": "Canary decision comment",
    "event": "Canary event comment",
    "filename": "canary-receipt.txt",
    "file": "Canary file content",
    "title": "Canary conversation title",
    "question": "Canary question about Zebulon",
    "answer": "Canary answer quoting the record",
    "elsewhere": "Canary answer in another conversation",
    "handoff": "Canary hand-off reason",
    "notes": "Canary hand-off notes",
    "feedback": "Canary feedback comment",
}
OTHER = "Ottoline Otherperson"


def _customer(number: str, name: str, region: Any, **extra: Any) -> Customer:
    customer = Customer(customer_number=number, full_name=name, region=region, **extra)
    customer.save()
    return customer


@pytest.fixture
def world(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    seed_forms()
    north = regions["north"]
    agent = make_user("er_agent", Role.AGENT, regions=[north])
    compliance = make_user("er_compliance", Role.COMPLIANCE)
    ended = date.today() - timedelta(days=6 * 366)
    customer = _customer(
        "CUS-ERASE",
        CANARIES["name"],
        north,
        email=CANARIES["email"],
        tax_id=CANARIES["tax_id"],
        date_of_birth="1970-01-02",
        address_line1=CANARIES["address"],
        relationship_ended=ended,
    )
    other = _customer("CUS-OTHER", OTHER, north, tax_id="111-22-3333", relationship_ended=ended)
    account = Account.objects.create(
        customer=customer,
        type="credit_card",
        account_number=CANARIES["account"],
        opened=date(2015, 1, 1),
    )
    Account.objects.create(
        customer=other,
        type="checking",
        account_number="5555000011112222",
        opened=date(2015, 1, 1),
    )
    transaction = Transaction.objects.create(
        account=account,
        posted_date=date(2019, 5, 1),
        amount=54.20,
        merchant=CANARIES["merchant"],
    )
    Case.objects.create(
        customer=customer, type="complaint", opened=date(2019, 6, 1), summary=CANARIES["case"]
    )
    submission = FormSubmission.objects.create(
        definition=FormDefinition.objects.order_by("pk").first(),
        customer=customer,
        account=account,
        transaction=transaction,
        submitted_by=agent,
        status=SubmissionStatus.APPROVED,
        data={"details": CANARIES["submission"]},
        decision_comment=CANARIES["decision"],
    )
    SubmissionEvent.objects.create(
        submission=submission, actor=agent, to_status="approved", comment=CANARIES["event"]
    )
    attachment = SubmissionAttachment(
        submission=submission,
        field_key="evidence",
        original_filename=CANARIES["filename"],
        content_type="text/plain",
        sha256="0" * 64,
        size_bytes=1,
        uploaded_by=agent,
    )
    attachment.file.save("x", ContentFile(CANARIES["file"].encode()), save=False)
    attachment.save()
    conversation = Conversation.objects.create(
        owner=agent, customer=customer, title=CANARIES["title"]
    )
    Message.objects.create(conversation=conversation, role="user", content=CANARIES["question"])
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content=CANARIES["answer"],
        source_texts=[{"text": CANARIES["tax_id"]}],
    )
    Feedback.objects.create(message=answer, user=agent, helpful=True, comment=CANARIES["feedback"])
    # A conversation not about them, whose answer was given their record.
    elsewhere = Conversation.objects.create(owner=agent, title="general")
    Message.objects.create(
        conversation=elsewhere,
        role="assistant",
        content=CANARIES["elsewhere"],
        source_record_ids=[{"type": "customer", "id": customer.pk}],
    )
    Handoff.objects.create(
        conversation=conversation,
        customer=customer,
        reason=CANARIES["handoff"],
        notes=CANARIES["notes"],
        status=HandoffStatus.RESOLVED,
    )
    export = RecordExport.objects.create(
        requested_by=compliance, status=ExportStatus.DONE, filters={}
    )
    export.file.save("e.zip", ContentFile(CANARIES["name"].encode()))
    return {
        "agent": agent,
        "compliance": compliance,
        "customer": customer,
        "other": other,
        "attachment": Path(attachment.file.path),
        "export": export,
        "region": north,
    }


def _readable_values() -> str:
    """Everything the database holds, as the bank could read it with its keys: every
    column of every table as text, and every encrypted value decrypted (None: erased)."""
    parts = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT t::text FROM {table} t")  # noqa: S608 - a table name
            parts += [row[0] for row in cursor.fetchall()]
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField | EncryptedJSONField):
                    continue
                column = connection.ops.quote_name(field.column)
                cursor.execute(f"SELECT {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                parts += [decrypt_stored(row[0]) or "" for row in cursor.fetchall()]
    return "\n".join(parts)


def _canaries_in(text: str) -> list[str]:
    # JSON text escapes nothing in these; the tax id also without its dashes.
    found = [key for key, value in CANARIES.items() if value in text and key != "file"]
    if CANARIES["tax_id"].replace("-", "") in text.replace("-", ""):
        found.append("tax_id digits")
    return found


def test_erasure_leaves_no_readable_value_and_the_chain_verifies(world: dict[str, Any]) -> None:
    customer = world["customer"]
    before = _readable_values()
    # The scan sees every canary while the customer is not erased (it can fail).
    assert set(_canaries_in(before)) >= set(CANARIES) - {"file"}
    assert OTHER in before
    # A copy of their ciphertext kept elsewhere (a replica, an archived WAL segment, a dump
    # of these tables): under their own data key, not the project keys.
    with connection.cursor() as cursor:
        cursor.execute("SELECT tax_id FROM knowledge_customer WHERE id = %s", [customer.pk])
        backup_tax_id = cursor.fetchone()[0]
        cursor.execute(
            "SELECT data FROM forms_app_formsubmission WHERE customer_id = %s", [customer.pk]
        )
        backup_submission = cursor.fetchone()[0]
    assert data_key_of(backup_tax_id) == customer.data_key_id
    assert data_key_of(backup_submission) == customer.data_key_id
    assert decrypt_stored(backup_tax_id) == CANARIES["tax_id"]
    assert world["attachment"].exists()

    certificate = customer_erase(
        actor=world["compliance"], customer_id=customer.pk, request_reference="DSR-2026-17"
    )

    after = _readable_values()
    assert _canaries_in(after) == []
    assert not world["attachment"].exists()
    export = RecordExport.objects.get(pk=world["export"].pk)
    assert export.status == ExportStatus.FAILED and not export.file
    # Those copies can no longer be decrypted with the keys the bank holds: the key is gone.
    assert decrypt_stored(backup_tax_id) is None
    assert decrypt_stored(backup_submission) is None
    key = DataKey.objects.get(pk=customer.data_key_id)
    assert key.destroyed_at is not None and key.wrapped == ""
    # Pages and the API read "erased".
    erased = Customer.objects.get(pk=customer.pk)
    assert erased.full_name == "Erased customer" and erased.tax_id == "" and erased.erased_at
    assert Message.objects.filter(conversation__customer=customer).first().content == ERASED
    # Other customers are untouched and readable.
    other = Customer.objects.get(pk=world["other"].pk)
    assert other.full_name == OTHER and other.tax_id == "111-22-3333"
    assert Account.objects.get(customer=other).account_number == "5555000011112222"
    # The trail still verifies; the erasure is in it with counts, never values.
    report = verify()
    assert report.ok, report.breaks
    event = AuditEvent.objects.get(action="records.erased")
    assert event.details["customer_id"] == customer.pk
    assert event.details["data_key_ids"] == [customer.data_key_id]
    # The certificate: what, when, who, which classes, signed.
    document = certificate_document(certificate)
    assert document["subject_reference"] == "CUS-ERASE"
    assert document["request_reference"] == "DSR-2026-17"
    assert document["performed_by"] == "er_compliance"
    assert document["performed_by_id"] == world["compliance"].pk
    assert document["data_keys_destroyed"] == 1
    assert document["data_key_ids"] == [customer.data_key_id]
    assert document["audit_event_id"] == event.pk
    assert "once the backups of the data-key table" in document["backups"]
    records = {name: item["records"] for name, item in document["classes"].items()}
    assert records["customer_record"] == 1 and records["accounts"] == 1
    assert records["submissions"] == 1 and records["submission_attachments"] == 1
    assert records["conversations"] == 2 and records["messages"] == 3
    assert records["handoffs"] == 1 and records["exports"] == 1
    assert document["signature"]["valid"] is True
    ErasureCertificate.objects.filter(pk=certificate.pk).update(request_reference="DSR-forged")
    forged = certificate_document(ErasureCertificate.objects.get(pk=certificate.pk))
    assert forged["signature"]["valid"] is False

    # Nothing more is stored about an erased customer.
    with pytest.raises(ValidationError, match="erased"):
        customer_upsert(
            actor=None,
            data={"customer_number": "CUS-ERASE", "full_name": "Again", "region": "north"},
        )
    with pytest.raises(DataKeyDestroyed):
        FormSubmission.objects.create(
            definition=FormDefinition.objects.order_by("pk").first(),
            customer=erased,
            submitted_by=world["agent"],
            data={"details": "new words"},
        )
    # New words in a conversation about them are not theirs: under the project keys.
    later = Conversation.objects.create(owner=world["agent"], customer=erased, title="later")
    assert Conversation.objects.get(pk=later.pk).title == "later"
    # Erasing twice is refused.
    with pytest.raises(ErasureRefused, match="already erased"):
        customer_erase(actor=world["compliance"], customer_id=customer.pk, request_reference="x")


def test_erasure_is_refused_under_a_hold_or_an_obligation(world: dict[str, Any]) -> None:
    compliance, customer = world["compliance"], world["customer"]

    def refused() -> list[str]:
        with pytest.raises(ErasureRefused) as caught:
            customer_erase(actor=compliance, customer_id=customer.pk, request_reference="DSR-1")
        return caught.value.messages

    Customer.objects.filter(pk=customer.pk).update(relationship_ended=None)
    assert "has not ended" in " ".join(refused())
    Customer.objects.filter(pk=customer.pk).update(
        relationship_ended=date.today() - timedelta(days=365)
    )
    assert "Records must be kept until" in " ".join(refused())
    Customer.objects.filter(pk=customer.pk).update(
        relationship_ended=date.today() - timedelta(days=6 * 366)
    )
    hold = legal_hold_place(
        actor=compliance,
        kind="customer",
        target_id=str(customer.pk),
        reason="Litigation",
        case_reference="CASE-9",
    )
    assert "legal hold applies to this customer (case CASE-9)" in " ".join(refused())
    legal_hold_release(actor=compliance, hold=hold)
    # A hold on the agent who filed their submission and owns their conversations.
    user_hold = legal_hold_place(
        actor=compliance,
        kind="user",
        target_id=str(world["agent"].pk),
        reason="Investigation",
        case_reference="CASE-10",
    )
    reasons = " ".join(refused())
    assert "Submission #" in reasons and "Conversation #" in reasons
    legal_hold_release(actor=compliance, hold=user_hold)
    # Open work about them.
    FormSubmission.objects.filter(customer=customer).update(status=SubmissionStatus.IN_REVIEW)
    Handoff.objects.filter(customer=customer).update(status=HandoffStatus.OPEN)
    reasons = " ".join(refused())
    assert "waiting for review" in reasons and "still open" in reasons
    preview = erasure_preview(actor=compliance, customer_id=customer.pk)
    assert not preview.allowed and len(preview.blockers) == 2
    # Refusals changed nothing.
    assert Customer.objects.get(pk=customer.pk).tax_id == CANARIES["tax_id"]
    assert not DataKey.objects.filter(destroyed_at__isnull=False).exists()
    # Who is not compliance may not erase.
    with pytest.raises(PermissionDenied):
        customer_erase(actor=world["agent"], customer_id=customer.pk, request_reference="x")
    with pytest.raises(ValidationError):
        customer_erase(actor=compliance, customer_id=customer.pk, request_reference="  ")
    with pytest.raises(ValidationError, match="No such customer"):
        customer_erase(actor=compliance, customer_id=10**12, request_reference="x")


def test_the_erasure_page(client: Any, world: dict[str, Any], make_user: Any) -> None:
    customer = world["customer"]
    agent = world["agent"]
    client.force_login(agent)
    assert client.get("/audit/erasure/").status_code == 403  # like every audit page
    assert client.post("/audit/erasure/", {"customer_id": customer.pk}).status_code == 403

    admin = make_user("er_admin", Role.ADMIN)  # reads the trail, may not erase
    client.force_login(admin)
    assert client.get("/audit/erasure/").status_code == 200
    denied = client.post("/audit/erasure/", {"customer_id": customer.pk, "step": "erase"})
    assert denied.status_code == 403
    assert Customer.objects.get(pk=customer.pk).erased_at is None

    client.force_login(world["compliance"])
    page = client.get("/audit/erasure/")
    assert page.status_code == 200 and "data-erasure-check" in page.text
    bad = client.post("/audit/erasure/", {"customer_id": "12ab", "step": "check"})
    assert bad.status_code == 400 and "A customer id is a number" in bad.text
    missing = client.post("/audit/erasure/", {"customer_id": "999999999", "step": "check"})
    assert missing.status_code == 400 and "No such customer" in missing.text
    check = client.post(
        "/audit/erasure/",
        {"customer_id": customer.pk, "request_reference": "DSR-3", "step": "check"},
    )
    assert check.status_code == 200 and "data-erasure-preview" in check.text
    assert Customer.objects.get(pk=customer.pk).erased_at is None  # checking changes nothing
    no_reference = client.post("/audit/erasure/", {"customer_id": customer.pk, "step": "erase"})
    assert no_reference.status_code == 400 and "reference" in no_reference.text
    erased = client.post(
        "/audit/erasure/",
        {"customer_id": customer.pk, "request_reference": "DSR-3", "step": "erase"},
        follow=True,
    )
    assert erased.status_code == 200 and "CUS-ERASE erased" in erased.text
    certificate = ErasureCertificate.objects.get()
    assert f'data-certificate="{certificate.pk}"' in erased.text
    again = client.post(
        "/audit/erasure/",
        {"customer_id": customer.pk, "request_reference": "DSR-3", "step": "erase"},
    )
    assert again.status_code == 409 and "already erased" in again.text
    download = client.get(f"/audit/erasure/{certificate.pk}/certificate.json")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    assert download.json()["signature"]["valid"] is True
    assert client.get("/audit/erasure/99999/certificate.json").status_code == 404
    assert client.get("/audit/erasure/x/certificate.json").status_code == 404
    client.force_login(agent)
    assert client.get(f"/audit/erasure/{certificate.pk}/certificate.json").status_code == 403


def test_rotating_the_project_keys_rewraps_the_data_keys(
    world: dict[str, Any], settings: Any
) -> None:
    customer = world["customer"]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "portal.DataKey.wrapped:" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are gone
    from portal.crypto import data_keys_forget

    data_keys_forget()
    assert Customer.objects.get(pk=customer.pk).tax_id == CANARIES["tax_id"]
    assert FormSubmission.objects.get(customer=customer).data == {"details": CANARIES["submission"]}
    assert (
        Message.objects.filter(conversation__customer=customer).first().content
        == (CANARIES["question"])
    )
    # And erasure still works after a rotation.
    customer_erase(actor=world["compliance"], customer_id=customer.pk, request_reference="DSR-4")
    assert _canaries_in(_readable_values()) == []


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_values_stored_before_data_keys_move_under_them(world: dict[str, Any]) -> None:
    # Stored as before per-customer keys existed (bulk_create skips save(): no data key).
    (legacy,) = Customer.objects.bulk_create(
        [
            Customer(
                customer_number="CUS-LEGACY",
                full_name="Legacy Person",
                region=world["region"],
                tax_id="222-33-4444",
                relationship_ended=date.today() - timedelta(days=6 * 366),
            )
        ]
    )
    submission = FormSubmission.objects.create(
        definition=FormDefinition.objects.order_by("pk").first(),
        customer=legacy,
        submitted_by=world["agent"],
        status=SubmissionStatus.APPROVED,
        data={"details": "Legacy submission words"},
    )
    assert _raw("knowledge_customer", "tax_id", legacy.pk).startswith("gAAAA")
    assert _raw("forms_app_formsubmission", "data", submission.pk).startswith("gAAAA")
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    moved = re.search(r"(\d+) row\(s\) moved under their customer's data key", out.getvalue())
    assert moved and int(moved.group(1)) == 2  # the customer and the submission
    legacy = Customer.objects.get(pk=legacy.pk)
    assert legacy.data_key_id is not None
    assert DataKey.objects.get(pk=legacy.data_key_id).subject_id == legacy.pk
    prefix = f"dk1:{legacy.data_key_id}:"
    assert _raw("knowledge_customer", "tax_id", legacy.pk).startswith(prefix)
    assert _raw("forms_app_formsubmission", "data", submission.pk).startswith(prefix)
    assert legacy.tax_id == "222-33-4444"
    # Values of customers that already had keys are not touched; a second run moves nothing.
    again = io.StringIO()
    call_command("rotate_field_keys", stdout=again)
    assert "  0 row(s) moved" in again.getvalue()
    customer_erase(actor=world["compliance"], customer_id=legacy.pk, request_reference="DSR-5")
    text = _readable_values()
    assert "Legacy Person" not in text and "Legacy submission words" not in text
    assert "222-33-4444" not in text


def test_pages_show_an_erased_customer_without_failing(client: Any, world: dict[str, Any]) -> None:
    customer = world["customer"]
    submission = FormSubmission.objects.get(customer=customer)
    attachment = SubmissionAttachment.objects.get(submission=submission)
    conversation = Conversation.objects.get(customer=customer)
    answer = Message.objects.get(conversation=conversation, role="assistant")
    customer_erase(actor=world["compliance"], customer_id=customer.pk, request_reference="DSR-6")
    client.force_login(world["compliance"])
    pages = {
        f"/customers/{customer.pk}/": "Erased customer",
        f"/assistant/answers/{answer.pk}/explain/": "erased",
        f"/api/v1/customers/{customer.pk}/": "Erased customer",
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert expected in text, url
        assert _canaries_in(text) == [], url
    download = client.get(f"/forms/submissions/{submission.pk}/files/{attachment.pk}/")
    assert download.status_code == 404
    client.force_login(world["agent"])
    for url in (f"/forms/submissions/{submission.pk}/", f"/api/v1/submissions/{submission.pk}/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert _canaries_in(page.content.decode()) == [], url
    page = client.get(f"/assistant/c/{conversation.pk}/")
    assert page.status_code == 200 and ERASED in page.content.decode()
    assert _canaries_in(page.content.decode()) == []
    # Searching by the old name or e-mail finds nothing any more.
    found = client.get("/customers/", {"q": CANARIES["email"]})
    assert found.status_code == 200 and "CUS-ERASE" not in found.content.decode()


def test_erasure_waits_for_a_writer_and_erases_what_it_stored(world: dict[str, Any]) -> None:
    """A writer storing a value under the customer's key holds it FOR SHARE: the erasure
    destroys the key only once the writer committed, so what it stored is unreadable too,
    and a writer after it is refused instead of storing what nobody could read."""
    from django.db import connections, transaction

    customer, agent = world["customer"], world["agent"]
    stored, release = threading.Event(), threading.Event()
    created: list[int] = []

    answer = Message.objects.get(conversation__customer=customer, role="assistant")

    def writer() -> None:
        # Feedback references the message only: no row the erasure locks (its update of the
        # messages takes FOR NO KEY UPDATE, which a foreign key's check does not wait for).
        try:
            with transaction.atomic():
                row = Feedback.objects.create(
                    message=Message.objects.get(pk=answer.pk),
                    user=world["compliance"],
                    helpful=False,
                    comment="Canary written during the erasure",
                )
                created.append(row.pk)
                stored.set()
                release.wait(10)
        finally:
            connections.close_all()

    done: list[Any] = []

    def eraser() -> None:
        try:
            done.append(
                customer_erase(
                    actor=world["compliance"], customer_id=customer.pk, request_reference="DSR-7"
                )
            )
        finally:
            connections.close_all()

    first = threading.Thread(target=writer)
    first.start()
    assert stored.wait(10)
    second = threading.Thread(target=eraser)
    second.start()
    time.sleep(0.5)
    assert not done  # waiting for the writer's lock on the key
    release.set()
    first.join(10)
    second.join(20)
    assert done, "the erasure did not finish"
    # Its row was inserted while the erasure overwrote the others: its comment stays under
    # the destroyed key, unreadable.
    assert Feedback.objects.get(pk=created[0]).comment == ERASED
    assert "Canary written during the erasure" not in _readable_values()
    # A writer after it finds the key destroyed: nothing is stored.
    with pytest.raises(DataKeyDestroyed):
        FormSubmission.objects.create(
            definition=FormDefinition.objects.order_by("pk").first(),
            customer=Customer.objects.get(pk=customer.pk),
            submitted_by=agent,
            data={"details": "too late"},
        )


def test_erasure_waits_for_exports_and_for_keys_of_its_own(world: dict[str, Any]) -> None:
    compliance, customer = world["compliance"], world["customer"]
    RecordExport.objects.create(  # another customer's: no reason to wait
        requested_by=compliance,
        status=ExportStatus.QUEUED,
        filters={"customer_id": world["other"].pk},
    )
    assert erasure_preview(actor=compliance, customer_id=customer.pk).blockers == []
    running = RecordExport.objects.create(
        requested_by=compliance, status=ExportStatus.RUNNING, filters={}
    )
    with pytest.raises(ErasureRefused) as refused:
        customer_erase(actor=compliance, customer_id=customer.pk, request_reference="DSR-8")
    assert refused.value.messages == [
        f"Export #{running.pk} is being built and may include this customer: wait until it is done."
    ]
    RecordExport.objects.filter(pk=running.pk).update(status=ExportStatus.DONE)
    # A customer whose values are still under the project keys (from before data keys).
    Customer.objects.filter(pk=customer.pk).update(data_key=None)
    with pytest.raises(ErasureRefused, match="rotate_field_keys"):
        customer_erase(actor=compliance, customer_id=customer.pk, request_reference="DSR-8")


def test_a_conversation_moves_under_its_customer_key_when_it_gets_one(
    world: dict[str, Any],
) -> None:
    from assistant.answering.prompt import _under_customer_key

    customer = world["customer"]
    conversation = Conversation.objects.create(owner=world["agent"], title="Before the focus")
    question = Message.objects.create(
        conversation=conversation, role="user", content="What about Zebulon?"
    )
    assert _raw("assistant_message", "content", question.pk).startswith("gAAAA")
    Conversation.objects.filter(pk=conversation.pk).update(customer=customer)
    conversation.customer_id = customer.pk
    _under_customer_key(conversation)
    prefix = f"dk1:{customer.data_key_id}:"
    assert _raw("assistant_message", "content", question.pk).startswith(prefix)
    assert _raw("assistant_conversation", "title", conversation.pk).startswith(prefix)
    assert Message.objects.get(pk=question.pk).content == "What about Zebulon?"


def test_a_value_whose_key_row_is_missing_is_an_error_not_an_erasure(
    world: dict[str, Any],
) -> None:
    from portal.crypto import FieldDecryptionError, data_keys_forget

    raw = _raw("knowledge_customer", "tax_id", world["customer"].pk)
    assert decrypt_stored(raw) == CANARIES["tax_id"]
    missing = raw.replace(f"dk1:{world['customer'].data_key_id}:", "dk1:987654321:")
    data_keys_forget()
    with pytest.raises(FieldDecryptionError, match="does not exist"):
        decrypt_stored(missing)


def test_the_end_of_the_relationship_is_imported_with_the_customer(
    regions: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError) as bad:
        customer_upsert(
            actor=None,
            data={
                "customer_number": "CUS-END",
                "full_name": "Ended Relationship",
                "region": "north",
                "relationship_ended": "2019-02-30",
            },
        )
    assert "relationship_ended" in bad.value.message_dict
    customer, _ = customer_upsert(
        actor=None,
        data={
            "customer_number": "CUS-END",
            "full_name": "Ended Relationship",
            "region": "north",
            "relationship_ended": "2019-02-28",
        },
    )
    assert Customer.objects.get(pk=customer.pk).relationship_ended == date(2019, 2, 28)
