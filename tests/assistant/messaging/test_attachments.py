"""Files sent with secure messages: checked by content before anything is stored, encrypted at
rest under random names, downloadable only by the thread's customer and the staff of the
customer's region (pages and both APIs), gone with a withdrawn reply, deleted by erasure."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from assistant.messaging.models import MessageAttachment, SecureMessage, Thread
from assistant.messaging.services.erasure import messaging_erase
from assistant.messaging.services.threads import (
    customer_message_post,
    message_retract,
    staff_reply_send,
    thread_start,
)
from portal.crypto import FILE_MAGIC
from portal.models import AuditEvent
from tests.assistant.messaging.conftest import token_client

pytestmark = pytest.mark.django_db

RECEIPT_MARK = b"ACME receipt numbat-receipt-7731"
RECEIPT = b"%PDF-1.4\n1 0 obj<<>>endobj\n% " + RECEIPT_MARK + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"numbat-photo"


def _pdf(name: str = "receipt.pdf", data: bytes = RECEIPT) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def _png(name: str = "photo.png", data: bytes = PNG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


_api = token_client


def _thread_with_receipt(customer_user: Any) -> Thread:
    return thread_start(
        user=customer_user,
        subject="Unknown charge",
        category="card_dispute",
        body="I don't recognise this ACME charge; the receipt is attached.",
        attachments=[_pdf(), _png()],
    )


def _download(client: Any, url: str) -> Any:
    response = client.get(url)
    if response.status_code == 200:
        response.body = b"".join(response.streaming_content)
    return response


def test_a_customer_attaches_a_receipt_stored_encrypted_under_a_random_name(
    customer_user: Any,
) -> None:
    client = _client(customer_user)
    response = client.post(
        "/secure/threads/new/",
        {
            "category": "card_dispute",
            "subject": "Unknown charge",
            "body": "The receipt is attached.",
            "attachments": [_pdf("my receipt from ACME.pdf"), _png()],
        },
    )
    assert response.status_code == 302, response.content[:2000]
    thread = Thread.objects.get()
    files = list(MessageAttachment.objects.filter(message__thread=thread))
    assert [(f.original_filename, f.content_type) for f in files] == [
        ("my receipt from ACME.pdf", "application/pdf"),
        ("photo.png", "image/png"),
    ]
    receipt = files[0]
    assert "receipt" not in receipt.file.name and "ACME" not in receipt.file.name
    with storages["default"].open(receipt.file.name) as stored:
        raw = stored.read()
    assert raw.startswith(FILE_MAGIC) and RECEIPT_MARK not in raw
    assert receipt.size_bytes == len(RECEIPT)
    # The customer's page lists the files; the link downloads the plaintext.
    page = client.get(f"/secure/threads/{thread.pk}/")
    assert f'data-attachment="{receipt.pk}"'.encode() in page.content
    got = _download(client, f"/secure/threads/{thread.pk}/files/{receipt.pk}/")
    assert got.status_code == 200 and got.body == RECEIPT
    assert got["Content-Type"] == "application/pdf"
    assert got["Content-Disposition"].startswith("attachment;")
    assert got["X-Content-Type-Options"] == "nosniff"
    started = AuditEvent.objects.get(action="messaging.thread_started")
    assert [f["sha256"] for f in started.details["attachments"]] == [f.sha256 for f in files]
    assert "receipt" not in str(started.details)  # never the names (they may name a person)
    assert AuditEvent.objects.filter(action="messaging.attachment_downloaded").count() == 1


def test_only_the_customer_and_staff_of_the_region_get_the_file(
    customer_user: Any, other_customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _thread_with_receipt(customer_user)
    receipt = MessageAttachment.objects.filter(message__thread=thread).first()
    assert receipt is not None
    staff_url = f"/messages/{thread.pk}/files/{receipt.pk}/"
    got = _download(_client(staff["agent"]), staff_url)
    assert got.status_code == 200 and got.body == RECEIPT
    assert _download(_client(staff["compliance"]), staff_url).status_code == 200
    page = _client(staff["agent"]).get(f"/messages/{thread.pk}/")
    assert f'data-attachment="{receipt.pk}"'.encode() in page.content
    for outsider in (staff["south_agent"], staff["content"]):
        assert _client(outsider).get(staff_url).status_code in (403, 404)
        assert _api(outsider).get(
            f"/api/v1/threads/{thread.pk}/files/{receipt.pk}/"
        ).status_code in (
            403,
            404,
        )
    # Another customer: not through their own thread either (the file is not of that thread).
    theirs = thread_start(
        user=other_customer_user, subject="Hello", category="general", body="A question."
    )
    other = _client(other_customer_user)
    assert other.get(f"/secure/threads/{thread.pk}/files/{receipt.pk}/").status_code == 404
    assert other.get(f"/secure/threads/{theirs.pk}/files/{receipt.pk}/").status_code == 404
    assert (
        _client(staff["agent"]).get(f"/secure/threads/{thread.pk}/files/{receipt.pk}/").status_code
        == 404
    )
    # Staff pages are not the customer's.
    assert _client(customer_user).get(staff_url).status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("receipt.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"), "not"),
        (SimpleUploadedFile("photo.png", b"GIF89a fake", "image/png"), "not a PNG image"),
        (SimpleUploadedFile("photo.jpg", b"\x89PNG\r\n\x1a\n", "image/jpeg"), "not a JPEG"),
        (SimpleUploadedFile("tool.exe", b"MZ\x90\x00", "application/x-msdownload"), "Attach"),
        (SimpleUploadedFile("page.html", b"<script>x</script>", "text/html"), "cannot be attached"),
        (SimpleUploadedFile("empty.pdf", b"", "application/pdf"), "empty"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_refused_and_nothing_is_stored(
    customer_user: Any, upload: SimpleUploadedFile, message: str
) -> None:
    response = _client(customer_user).post(
        "/secure/threads/new/",
        {"category": "general", "subject": "x", "body": "See the file.", "attachments": [upload]},
    )
    assert response.status_code == 400
    assert message.encode() in response.content
    assert not Thread.objects.exists() and not MessageAttachment.objects.exists()


def test_limits_on_the_number_and_size_of_files(customer_user: Any, settings: Any) -> None:
    settings.SECURE_ATTACHMENTS_PER_MESSAGE = 2
    thread = _thread_with_receipt(customer_user)
    with pytest.raises(ValidationError, match="at most 2 files"):
        customer_message_post(
            user=customer_user, thread=thread, body="More.", attachments=[_pdf(), _pdf(), _pdf()]
        )
    settings.SECURE_ATTACHMENTS_MAX_BYTES = len(RECEIPT) + 10
    with pytest.raises(ValidationError, match="may be"):
        customer_message_post(
            user=customer_user, thread=thread, body="More.", attachments=[_pdf(), _pdf()]
        )
    assert SecureMessage.objects.filter(thread=thread).count() == 1
    assert MessageAttachment.objects.count() == 2


def test_a_withdrawn_reply_takes_its_file_with_it(
    customer_user: Any, staff: dict[str, Any], settings: Any
) -> None:
    settings.CUSTOMER_API_TOKENS = True
    thread = _thread_with_receipt(customer_user)
    response = _client(staff["agent"]).post(
        f"/messages/{thread.pk}/reply/",
        {"body": "Here is the dispute guide.", "attachments": [_pdf("guide.pdf")]},
    )
    assert response.status_code == 302
    reply = SecureMessage.objects.get(thread=thread, author_kind="staff")
    guide = reply.attachments.get()
    assert guide.original_filename == "guide.pdf"
    url = f"/secure/threads/{thread.pk}/files/{guide.pk}/"
    api_url = f"/secure/api/v1/threads/{thread.pk}/files/{guide.pk}/"
    message_retract(user=staff["agent"], message=reply)
    assert _client(customer_user).get(url).status_code == 404
    assert _api(customer_user).get(api_url).status_code == 404
    # Staff still see what was sent and withdrawn.
    assert (
        _client(staff["agent"]).get(f"/messages/{thread.pk}/files/{guide.pk}/").status_code == 200
    )


def test_a_bad_file_on_a_staff_reply_is_said_and_nothing_is_sent(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _thread_with_receipt(customer_user)
    fake = SimpleUploadedFile("guide.pdf", b"plain words", "application/pdf")
    response = _client(staff["agent"]).post(
        f"/messages/{thread.pk}/reply/",
        {"body": "See the guide.", "attachments": [fake]},
        follow=True,
    )
    assert b"guide.pdf" in response.content and b"not" in response.content
    assert not SecureMessage.objects.filter(thread=thread, author_kind="staff").exists()
    with pytest.raises(ValidationError):
        staff_reply_send(user=staff["agent"], thread=thread, body="x", attachments=[fake])


def test_both_apis_take_and_serve_files(
    customer_user: Any, staff: dict[str, Any], settings: Any
) -> None:
    settings.CUSTOMER_API_TOKENS = True
    customer_api = _api(customer_user)
    created = customer_api.post(
        "/secure/api/v1/threads/",
        {
            "subject": "Unknown charge",
            "category": "card_dispute",
            "body": "Receipt attached.",
            "attachments": [_pdf()],
        },
        format="multipart",
    )
    assert created.status_code == 201, created.content
    thread_id = created.json()["id"]
    detail = customer_api.get(f"/secure/api/v1/threads/{thread_id}/").json()
    (listed,) = detail["messages"][0]["attachments"]
    assert listed["filename"] == "receipt.pdf" and listed["size_bytes"] == len(RECEIPT)
    assert listed["url"] == f"/secure/api/v1/threads/{thread_id}/files/{listed['id']}/"
    got = _download(customer_api, listed["url"])
    assert got.status_code == 200 and got.body == RECEIPT
    # A second message in JSON (no files) and one with a file that is not what it claims.
    assert (
        customer_api.post(
            f"/secure/api/v1/threads/{thread_id}/messages/", {"body": "And?"}, format="json"
        ).status_code
        == 201
    )
    refused = customer_api.post(
        f"/secure/api/v1/threads/{thread_id}/messages/",
        {"body": "Again", "attachments": [SimpleUploadedFile("x.png", b"nope", "image/png")]},
        format="multipart",
    )
    assert refused.status_code == 400 and "attachments" in refused.json()["extra"]["fields"]
    # Staff: the file in the thread, a reply with a file of their own.
    staff_api = _api(staff["agent"])
    staff_view = staff_api.get(f"/api/v1/threads/{thread_id}/").json()
    (seen,) = staff_view["messages"][0]["attachments"]
    assert seen["url"] == f"/api/v1/threads/{thread_id}/files/{seen['id']}/"
    assert _download(staff_api, seen["url"]).body == RECEIPT
    replied = staff_api.post(
        f"/api/v1/threads/{thread_id}/reply/",
        {"body": "Thanks, here is our form.", "attachments": [_png("form.png")]},
        format="multipart",
    )
    assert replied.status_code == 201, replied.content
    assert replied.json()["attachments"][0]["filename"] == "form.png"
    # Neither side's API serves the other's URLs.
    assert customer_api.get(seen["url"]).status_code == 404
    assert staff_api.get(listed["url"]).status_code == 404
    assert _api(staff["south_agent"]).get(seen["url"]).status_code == 404


def test_erasure_deletes_the_files(
    customer_user: Any, staff: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    thread = _thread_with_receipt(customer_user)
    staff_reply_send(user=staff["agent"], thread=thread, body="Answered.")
    names = [f.file.name for f in MessageAttachment.objects.all()]
    assert all(storages["default"].exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        counts = messaging_erase(customer_user.customer_login.customer.pk)
    assert counts["secure_attachments"] == 2
    assert not any(storages["default"].exists(name) for name in names)
    assert set(MessageAttachment.objects.values_list("original_filename", flat=True)) == {
        "[erased]"
    }
    receipt = MessageAttachment.objects.first()
    assert receipt is not None
    assert (
        _client(staff["agent"]).get(f"/messages/{thread.pk}/files/{receipt.pk}/").status_code == 404
    )


@pytest.mark.parametrize(
    ("name", "claimed", "data", "kept"),
    [
        ("invoice.html", "text/plain", b"<html><script>alert(1)</script>", "invoice.html.txt"),
        ("run.js", "text/plain", b"WScript.Echo(1)", "run.js.txt"),
        ("x.html", "image/png", PNG + b"<script>", "x.html.png"),
        ("scan", "application/pdf", RECEIPT, "scan.pdf"),
        ("photo.JPEG", "image/jpeg", b"\xff\xd8\xff\xe0 jpeg", "photo.JPEG"),
    ],
)
def test_a_file_is_kept_under_its_types_extension(
    customer_user: Any, name: str, claimed: str, data: bytes, kept: str
) -> None:
    thread = thread_start(
        user=customer_user,
        subject="Files",
        category="general",
        body="See the file.",
        attachments=[SimpleUploadedFile(name, data, content_type=claimed)],
    )
    item = MessageAttachment.objects.get(message__thread=thread)
    assert item.original_filename == kept
    got = _client(customer_user).get(f"/secure/threads/{thread.pk}/files/{item.pk}/")
    assert kept in got["Content-Disposition"]


def test_a_pdf_must_start_as_one(customer_user: Any) -> None:
    disguised = SimpleUploadedFile(
        "a.pdf", b"<!-- %PDF-1.4 --><script>x</script>", "application/pdf"
    )
    with pytest.raises(ValidationError, match="not a PDF"):
        thread_start(
            user=customer_user,
            subject="x",
            category="general",
            body="See the file.",
            attachments=[disguised],
        )


def _stored_names() -> set[str]:
    storage = storages["default"]
    if not storage.exists("secure-messages"):
        return set()
    folders, _ = storage.listdir("secure-messages")
    return {
        f"{folder}/{name}"
        for folder in folders
        for name in storage.listdir(f"secure-messages/{folder}")[1]
    }


def test_files_of_a_message_that_fails_are_removed(customer_user: Any, monkeypatch: Any) -> None:
    from assistant.messaging.services import threads

    before = _stored_names()

    def broken(*args: Any) -> None:
        raise RuntimeError("the broker is gone")

    monkeypatch.setattr(threads, "_draft_prepare", broken)
    with pytest.raises(RuntimeError):
        _thread_with_receipt(customer_user)
    assert not Thread.objects.exists() and not MessageAttachment.objects.exists()
    assert _stored_names() == before


def test_the_api_serves_a_file_whatever_the_client_accepts(
    customer_user: Any, staff: dict[str, Any]
) -> None:
    thread = _thread_with_receipt(customer_user)
    receipt = MessageAttachment.objects.filter(message__thread=thread).first()
    assert receipt is not None
    client = _api(staff["agent"])
    url = f"/api/v1/threads/{thread.pk}/files/{receipt.pk}/"
    for accept in ("application/octet-stream", "application/pdf", "*/*"):
        got = client.get(url, HTTP_ACCEPT=accept)
        assert got.status_code == 200, (accept, got.status_code)
        assert b"".join(got.streaming_content) == RECEIPT
