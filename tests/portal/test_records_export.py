"""Exports for regulators (portal/records/export.py): the files and their manifest, the
filters, a real Celery worker building it, who may download, and what is audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import zipfile
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assistant.models import Conversation, Message
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from portal.models import AuditEvent, ExportStatus, RecordExport
from portal.permissions import Role
from portal.records.export import records_export_build, records_export_open, records_export_request
from portal.services import audit_event_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(make_user: Any, regions: dict[str, Any]) -> dict[str, Any]:
    seed_customers(count=4)
    customers = list(Customer.objects.order_by("pk")[:2])
    agent = make_user("exp_agent", Role.AGENT, regions=[regions["north"], regions["south"]])
    other = make_user("exp_other", Role.AGENT, regions=[regions["north"]])
    for owner, customer, question in (
        (agent, customers[0], '=HYPERLINK("http://evil") what is the fee?'),
        (other, customers[1], "Other question"),
    ):
        conversation = Conversation.objects.create(
            owner=owner, customer=customer, title=question[:40]
        )
        Message.objects.create(conversation=conversation, role="user", content=question)
        Message.objects.create(
            conversation=conversation,
            role="assistant",
            content="The fee is 2% [1].",
            citations=[{"n": 1, "chunk_id": 7}],
            source_chunk_ids=[7],
            model_name="test-model",
        )
        audit_event_record(
            action="customers.view",
            actor=owner,
            target=customer,
            details={"customer_id": customer.pk},
        )
    return {
        "agent": agent,
        "other": other,
        "customers": customers,
        "compliance": make_user("exp_compliance", Role.COMPLIANCE),
        "compliance2": make_user("exp_compliance2", Role.COMPLIANCE),
    }


def _archive(export: RecordExport) -> zipfile.ZipFile:
    with export.file.open("rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def test_an_export_holds_every_source_with_a_manifest_that_proves_its_files(
    world: dict[str, Any],
) -> None:
    export = records_export_request(actor=world["compliance"])
    built = records_export_build(export.pk)
    assert built.status == ExportStatus.DONE
    archive = _archive(built)
    names = set(archive.namelist())
    assert names == {
        "manifest.json",
        *(
            f"{s}.{e}"
            for s in ("audit", "conversations", "submissions", "secure_messages")
            for e in ("jsonl", "csv")
        ),
    }
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        content = archive.read(entry["name"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert len(content) == entry["bytes"]
    counts = {f["name"]: f["records"] for f in manifest["files"]}
    assert counts["conversations.jsonl"] == 2 and counts["conversations.csv"] == 2
    assert manifest["audit_chain"]["verified"] is True
    head = AuditEvent.objects.filter(seq=manifest["audit_chain"]["head_seq"]).get()
    assert head.hash == manifest["audit_chain"]["head_hash"]
    conversations = [json.loads(line) for line in archive.read("conversations.jsonl").splitlines()]
    assert conversations[0]["messages"][1]["citations"] == [{"n": 1, "chunk_id": 7}]
    assert conversations[0]["messages"][1]["model_name"] == "test-model"
    # The CSV: a spreadsheet does not run the customer's text as a formula.
    rows = list(csv.DictReader(io.StringIO(archive.read("conversations.csv").decode())))
    assert rows[0]["title"].startswith("'=HYPERLINK")
    # Stored encrypted: the file on disk is not a ZIP.
    with open(built.file.path, "rb") as raw:
        assert not raw.read(4).startswith(b"PK")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"records.export_requested", "records.export_built"} <= actions


def test_filters_by_customer_and_by_user(world: dict[str, Any]) -> None:
    first = world["customers"][0]
    by_customer = records_export_build(
        records_export_request(actor=world["compliance"], customer_id=str(first.pk)).pk
    )
    archive = _archive(by_customer)
    conversations = [json.loads(line) for line in archive.read("conversations.jsonl").splitlines()]
    assert [c["customer_id"] for c in conversations] == [first.pk]
    audit = [json.loads(line) for line in archive.read("audit.jsonl").splitlines()]
    assert audit and all(
        e["target_id"] == str(first.pk) or e["details"].get("customer_id") == first.pk
        for e in audit
    )
    # A conversation that met the customer only as a record before the model counts too.
    met = Conversation.objects.create(owner=world["other"], title="met by a record")
    Message.objects.create(
        conversation=met,
        role="assistant",
        content="about them",
        source_record_ids=[{"type": "customer", "id": first.pk}],
    )
    again = records_export_build(
        records_export_request(actor=world["compliance"], customer_id=str(first.pk)).pk
    )
    found = [json.loads(x) for x in _archive(again).read("conversations.jsonl").splitlines()]
    assert sorted(c["id"] for c in found) == sorted([conversations[0]["id"], met.pk])
    by_user = records_export_build(
        records_export_request(actor=world["compliance"], username="exp_other").pk
    )
    conversations = [
        json.loads(line) for line in _archive(by_user).read("conversations.jsonl").splitlines()
    ]
    assert [c["owner"] for c in conversations] == ["exp_other", "exp_other"]  # and "met"
    empty = records_export_build(
        records_export_request(actor=world["compliance"], start="2001-01-01", end="2001-12-31").pk
    )
    assert {f["records"] for f in empty.manifest["files"]} == {0}


def test_bad_requests_are_refused_clearly(world: dict[str, Any], make_user: Any) -> None:
    # Agents, and admins (who read the audit trail but do not supervise answers).
    for user in (world["agent"], make_user("exp_admin", Role.ADMIN)):
        with pytest.raises(PermissionDenied):
            records_export_request(actor=user)
    for fields, key in (
        ({"start": "30/11/2026"}, "start"),
        ({"start": "2026-02-30"}, "start"),  # well formed, no such day
        ({"customer_id": "\u00b2"}, "customer_id"),  # a digit to isdigit(), not to int()
        ({"start": "2026-11-30", "end": "2026-11-01"}, "end"),
        ({"username": "nobody-here"}, "username"),
        ({"customer_id": "12; DROP"}, "customer_id"),
    ):
        with pytest.raises(ValidationError) as invalid:
            records_export_request(actor=world["compliance"], **fields)
        assert key in invalid.value.message_dict
    assert not RecordExport.objects.exists()


def test_a_real_worker_builds_it_and_only_who_asked_downloads_it(
    world: dict[str, Any], celery_worker_thread: Any, client: Any
) -> None:
    client.force_login(world["compliance"])
    page = client.post("/audit/exports/", {"start": "", "end": "", "username": "exp_agent"})
    assert page.status_code == 302
    export = RecordExport.objects.get()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        export.refresh_from_db()
        if export.status in (ExportStatus.DONE, ExportStatus.FAILED):
            break
        time.sleep(0.2)
    assert export.status == ExportStatus.DONE, export.error
    listing = client.get("/audit/exports/")
    assert b'data-export-status="done"' in listing.content
    download = client.get(f"/audit/exports/{export.pk}/download/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == export.sha256
    assert zipfile.ZipFile(io.BytesIO(body)).read("manifest.json")
    assert AuditEvent.objects.filter(action="records.export_downloaded").count() == 1
    # Another compliance officer sees it listed but cannot download it; an agent sees nothing.
    client.force_login(world["compliance2"])
    assert client.get(f"/audit/exports/{export.pk}/download/").status_code == 404
    with pytest.raises(RecordExport.DoesNotExist):
        records_export_open(actor=world["compliance2"], export_id=export.pk)
    client.force_login(world["agent"])
    assert client.get("/audit/exports/").status_code == 403
    assert client.get(f"/audit/exports/{export.pk}/download/").status_code == 403


def test_the_form_says_what_is_wrong(world: dict[str, Any], client: Any) -> None:
    client.force_login(world["compliance"])
    page = client.post("/audit/exports/", {"start": "yesterday", "customer_id": "x"})
    assert page.status_code == 400
    assert b"A date like 2026-11-30." in page.content
