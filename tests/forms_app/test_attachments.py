"""Files given for file fields: checked like document uploads, stored, frozen, downloadable."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from forms_app.models import FormSubmission, SubmissionStatus
from forms_app.selectors import definition_get
from forms_app.services import (
    definition_create,
    definition_publish,
    submission_attach_file,
    submission_create_draft,
    submission_submit,
    submission_update_draft,
)
from portal.models import AuditEvent
from tests.forms_app.test_submissions import world  # noqa: F401 - the shared fixture

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _pdf(name: str = "statement.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


@pytest.fixture
def evidence_form(world: dict[str, Any]) -> Any:  # noqa: F811
    definition = definition_create(
        actor=None,
        slug="evidence",
        title="Evidence",
        fields=[
            {"key": "note", "label": "Note", "type": "text"},
            {"key": "evidence", "label": "Evidence", "type": "file", "required": True},
        ],
        fill_roles=["agent"],
        review_roles=["supervisor"],
    )
    return definition_publish(actor=None, definition=definition)


def _draft(world: dict[str, Any], slug: str = "evidence") -> FormSubmission:  # noqa: F811
    agent = world["agent"]
    return submission_create_draft(
        actor=agent,
        definition=definition_get(agent, slug),
        customer=world["north_customer"],
        data={"note": "see file"},
    )


def test_required_file_blocks_submit_until_attached(
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
) -> None:
    draft = _draft(world)
    with pytest.raises(ValidationError, match="required"):
        submission_submit(actor=world["agent"], submission=draft)
    attachment = submission_attach_file(
        actor=world["agent"], submission=draft, key="evidence", upload=_pdf()
    )
    draft.refresh_from_db()
    assert draft.data["evidence"] == attachment.as_reference()
    assert draft.provenance["evidence"] == {"source": "user"}
    assert attachment.sha256 and attachment.size_bytes == len(PDF)
    # Saving the draft again without the file keeps it.
    draft = submission_update_draft(actor=world["agent"], submission=draft, data={"note": "x"})
    assert draft.data["evidence"]["attachment_id"] == attachment.pk
    submitted = submission_submit(actor=world["agent"], submission=draft)
    assert submitted.status == SubmissionStatus.SUBMITTED
    with pytest.raises(ValidationError, match="frozen"):
        submission_attach_file(
            actor=world["agent"], submission=draft, key="evidence", upload=_pdf()
        )
    assert AuditEvent.objects.filter(action="form_submission.file_attached").count() == 1


def test_bad_files_and_forged_references_are_refused(
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
) -> None:
    draft = _draft(world)
    fake = SimpleUploadedFile(
        "statement.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf"
    )
    with pytest.raises(ValidationError, match="PDF"):
        submission_attach_file(actor=world["agent"], submission=draft, key="evidence", upload=fake)
    with pytest.raises(ValidationError, match="Not a file field"):
        submission_attach_file(actor=world["agent"], submission=draft, key="note", upload=_pdf())
    other = _draft(world)
    theirs = submission_attach_file(
        actor=world["agent"], submission=other, key="evidence", upload=_pdf()
    )
    with pytest.raises(ValidationError, match="unknown"):
        submission_update_draft(
            actor=world["agent"],
            submission=draft,
            data={"note": "x", "evidence": theirs.as_reference()},
        )
    with pytest.raises(Exception, match="Only the person"):
        submission_attach_file(
            actor=world["agent2"], submission=draft, key="evidence", upload=_pdf()
        )


def test_upload_through_the_page_and_download(
    client: Client,
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
) -> None:
    customer = world["north_customer"]
    client.force_login(world["agent"])
    response = client.post(
        "/forms/evidence/",
        {"customer": customer.pk, "note": "n", "evidence": _pdf(), "action": "submit"},
    )
    assert response.status_code == 302
    submission = FormSubmission.objects.get(definition__slug="evidence")
    assert submission.status == SubmissionStatus.SUBMITTED
    attachment = submission.attachments.get()
    url = f"/forms/submissions/{submission.pk}/files/{attachment.pk}/"
    assert url in client.get(f"/forms/submissions/{submission.pk}/").content.decode()
    download = client.get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert "attachment" in download["Content-Disposition"]

    client.force_login(world["agent2"])  # same region, not theirs, not a reviewer
    assert client.get(url).status_code == 404
    client.force_login(world["supervisor"])  # the reviewer
    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(action="form_submission.file_downloaded").count() == 2
    # The file's name is the uploader's text (stored encrypted, erasable): the audit trail,
    # never erased, keeps only its fingerprint, which `manage.py audit_fingerprint` finds.
    from portal.audit import fingerprint

    events = AuditEvent.objects.filter(
        action__in=["form_submission.file_attached", "form_submission.file_downloaded"]
    )
    assert events.count() == 3
    for event in events:
        assert attachment.original_filename not in json.dumps(event.details)
        assert event.details["filename"] == fingerprint(attachment.original_filename)


def test_api_attach_file(world: dict[str, Any], evidence_form: Any) -> None:  # noqa: F811
    from rest_framework.test import APIClient

    draft = _draft(world)
    api = APIClient()
    api.force_authenticate(world["agent"])
    url = f"/api/v1/submissions/{draft.pk}/files/"
    response = api.post(url, {"field": "evidence", "file": _pdf()}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["data"]["evidence"]["filename"] == "statement.pdf"
    bad = api.post(
        url,
        {"field": "evidence", "file": SimpleUploadedFile("x.pdf", b"nope", "application/pdf")},
        format="multipart",
    )
    assert bad.status_code == 400 and "evidence" in bad.json()["extra"]["fields"]
    stranger = APIClient()
    stranger.force_authenticate(world["south_agent"])
    assert stranger.post(url, {"field": "evidence", "file": _pdf()}).status_code == 404


def test_admin_lists_submissions_read_only(
    client: Client,
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
    make_user: Any,
) -> None:
    from portal.permissions import Role

    draft = _draft(world)
    client.force_login(make_user("root", Role.ADMIN, is_staff=True, is_superuser=True))
    assert client.get("/admin/forms_app/formsubmission/").status_code == 200
    assert client.get(f"/admin/forms_app/formsubmission/{draft.pk}/change/").status_code == 200
    assert client.get("/admin/forms_app/formsubmission/add/").status_code == 403


def test_submission_data_is_encrypted_at_rest(world: dict[str, Any], evidence_form: Any) -> None:  # noqa: F811
    from django.db import connection

    draft = _draft(world)
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM forms_app_formsubmission WHERE id = %s", [draft.pk])
        raw = cursor.fetchone()[0]
    # A Fernet token under the customer's own data key (erasure destroys it).
    assert "see file" not in raw
    assert raw.startswith(f"dk1:{draft.customer.data_key_id}:gAAAA")
    draft.refresh_from_db()
    assert draft.data["note"] == "see file"


def test_key_rotation_covers_submission_data(
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
    settings: Any,
) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    draft = _draft(world)
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("rotate_field_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are gone
    draft.refresh_from_db()
    assert draft.data["note"] == "see file"


# Encryption at rest -------------------------------------------------------------------------

SECRET_PDF = b"%PDF-1.4\n% Jane Q. Customer, tax id 123-45-6789\n" + b"0" * 200_000 + b"\n%%EOF\n"


def _attach(world: dict[str, Any], data: bytes = SECRET_PDF) -> Any:  # noqa: F811
    draft = _draft(world)
    upload = SimpleUploadedFile("Jane Customer passport.pdf", data, "application/pdf")
    return submission_attach_file(
        actor=world["agent"], submission=draft, key="evidence", upload=upload
    )


def _on_disk(attachment: Any) -> bytes:
    attachment.refresh_from_db()
    with open(attachment.file.path, "rb") as handle:
        return handle.read()


def _download(client: Client, attachment: Any) -> Any:
    return client.get(f"/forms/submissions/{attachment.submission_id}/files/{attachment.pk}/")


def test_attachment_is_encrypted_on_disk_and_downloads_exactly(
    client: Client,
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
) -> None:
    import hashlib

    from django.db import connection

    attachment = _attach(world)
    stored = _on_disk(attachment)
    assert b"123-45-6789" not in stored and b"Jane" not in stored
    assert stored.startswith(b"\x89PORTAL-ENC")
    # Nothing of the uploader's file name on disk or in the row in clear.
    assert "Jane" not in attachment.file.name and "passport" not in attachment.file.name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT original_filename FROM forms_app_submissionattachment WHERE id = %s",
            [attachment.pk],
        )
        assert "Jane" not in cursor.fetchone()[0]
    assert attachment.original_filename == "Jane Customer passport.pdf"
    assert attachment.sha256 == hashlib.sha256(SECRET_PDF).hexdigest()
    assert attachment.size_bytes == len(SECRET_PDF)

    client.force_login(world["agent"])
    response = _download(client, attachment)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SECRET_PDF
    assert response["Content-Length"] == str(len(SECRET_PDF))
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "passport.pdf" in response["Content-Disposition"]

    client.force_login(world["south_agent"])  # may not see the submission
    assert _download(client, attachment).status_code == 404


def test_key_rotation_reencrypts_attachment_files(
    client: Client,
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
    settings: Any,
) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    attachment = _attach(world)
    before = _on_disk(attachment)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "forms_app.SubmissionAttachment.file (files): 1 re-encrypted" in out.getvalue()
    after = _on_disk(attachment)
    assert after != before and b"123-45-6789" not in after
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old keys are gone
    client.force_login(world["agent"])
    assert b"".join(_download(client, attachment).streaming_content) == SECRET_PDF
    event = AuditEvent.objects.filter(action="field_keys.rotated").latest("pk")
    assert event.details["files"] >= 1


def test_plaintext_attachment_from_before_still_downloads_then_is_encrypted(
    client: Client,
    world: dict[str, Any],  # noqa: F811
    evidence_form: Any,
) -> None:
    """A file stored before encryption at rest: served as it is, then encrypted (under a
    new name) by encrypt_stored_files, which is idempotent."""
    from django.core.management import call_command

    attachment = _attach(world)
    storage = attachment.file.storage
    legacy_name = f"submissions/legacy{attachment.pk}/Jane Customer passport.pdf"
    os.makedirs(os.path.dirname(storage.path(legacy_name)), exist_ok=True)
    with open(storage.path(legacy_name), "wb") as handle:
        handle.write(SECRET_PDF)
    type(attachment).objects.filter(pk=attachment.pk).update(file=legacy_name)
    client.force_login(world["agent"])
    assert b"".join(_download(client, attachment).streaming_content) == SECRET_PDF

    out = io.StringIO()
    call_command("encrypt_stored_files", stdout=out)
    assert "1 encrypted" in out.getvalue()
    attachment.refresh_from_db()
    assert attachment.file.name != legacy_name and "Jane" not in attachment.file.name
    assert not os.path.exists(storage.path(legacy_name))
    assert b"123-45-6789" not in _on_disk(attachment)
    assert b"".join(_download(client, attachment).streaming_content) == SECRET_PDF

    out = io.StringIO()
    call_command("encrypt_stored_files", stdout=out)  # again: nothing left to do
    assert "0 encrypted, 1 already encrypted" in out.getvalue()
