"""Hostile uploads through the real upload doors: the knowledge API (``POST
/api/v1/documents/``), the upload page, a submission's attachment API (``POST
/api/v1/submissions/{id}/files/``) and the form page.

Bodies are written by hand (``multipart``), so that a file name reaches Django's parser as
a client sent it: the test client would keep only its last path component. Every case ends
either stored safely (inside ``MEDIA_ROOT`` under a random name, the original name shown
escaped and downloaded under a safe ``Content-Disposition``) or refused with a message
that says why, and nothing half-stored: no file on disk, no chunk, no attachment row.

The parser-level bounds (bombs, slow inputs) are in ``tests/knowledge/ingestion``; here
each kind of file goes through the doors end to end: 20 hostile file names, 16 polyglots,
ZIP bombs (three of many parts, a deflate bomb, a nested one), a thousand-page PDF and one
over the page limit, both size limits at all four doors, 12 encodings
(docs/security.md, "Hostile input").
"""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from django.test import Client
from django.utils.html import escape
from rest_framework.test import APIClient

from forms_app.models import FormSubmission, SubmissionAttachment
from forms_app.selectors import definition_get
from forms_app.services import (
    definition_create,
    definition_publish,
    submission_create_draft,
    submission_submit,
)
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Chunk, Collection, Document, DocumentStatus
from portal.permissions import Role
from tests.knowledge.ingestion.parsers.samples import make_docx, make_docx_bomb, make_pdf

pytestmark = pytest.mark.django_db

BOUNDARY = "----hostile-upload-boundary-7MA4YWxkTrZu0gW"
MARKDOWN = b"# Card fees\n\nThe annual card fee is 5 euros.\n"
DOCUMENTS_PATH = re.compile(r"documents/[0-9a-f]{32}/[0-9a-f]{32}(\.[a-z0-9]{1,10})?")
ATTACHMENT_PATH = re.compile(r"submissions/[0-9a-f]{2}/[0-9a-f]{32}")


# --------------------------------------------------------------------------- the doors


def multipart(
    fields: dict[str, str], file_field: str, filename: str, data: bytes, content_type: str
) -> bytes:
    """A multipart body with ``filename`` as the client wrote it: quoted, in UTF-8, as it is
    when it can be (as browsers send names; backslashes and all, as old ones sent Windows
    paths), else as RFC 2231 ``filename*`` (how a client sends control characters)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    if all(char.isprintable() for char in filename):
        parameter = 'filename="{}"'.format(filename.replace('"', '\\"'))
    else:
        parameter = f"filename*=UTF-8''{quote(filename, safe='')}"
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{file_field}"; {parameter}\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    )
    parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _post(client: Client | APIClient, url: str, body: bytes) -> Any:
    return client.generic(
        "POST", url, body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """A MEDIA_ROOT of this test's own, so that every file stored is seen."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def stored_files(media: Path) -> set[str]:
    return {str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()}


@pytest.fixture
def people(make_user: Any, regions: dict[str, Any], collections: dict[str, Collection]) -> Any:
    from knowledge.customers.demo import seed_customers
    from knowledge.customers.models import Customer

    seed_customers(count=6)
    definition = definition_create(
        actor=None,
        slug="evidence",
        title="Evidence",
        fields=[
            {"key": "note", "label": "Note", "type": "text"},
            {"key": "evidence", "label": "Evidence", "type": "file"},
        ],
        fill_roles=["agent"],
        review_roles=["supervisor"],
    )
    definition_publish(actor=None, definition=definition)
    north = regions["north"]
    return {
        "manager": make_user("content", Role.CONTENT_MANAGER),
        "agent": make_user("agent", Role.AGENT, regions=[north]),
        "customer": Customer.objects.filter(region=north).order_by("pk").first(),
    }


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload_document(
    people: Any, filename: str, data: bytes, content_type: str = "text/markdown"
) -> tuple[Any, Document | None]:
    """Through the knowledge API; the document (if one was recorded)."""
    body = multipart(
        {"collection": "products-fees", "title": "Hostile"}, "file", filename, data, content_type
    )
    response = _post(_api(people["manager"]), "/api/v1/documents/", body)
    document = Document.objects.filter(pk=response.json().get("id")).first()
    return response, document


def upload_document_page(
    people: Any, filename: str, data: bytes, content_type: str = "text/markdown"
) -> tuple[Any, Document | None]:
    """Through the upload page."""
    collection = Collection.objects.get(slug="products-fees")
    body = multipart(
        {"collection": str(collection.pk), "title": "Hostile"}, "file", filename, data, content_type
    )
    response = _post(_page(people["manager"]), "/knowledge/documents/upload/", body)
    return response, Document.objects.filter(title="Hostile").order_by("-pk").first()


def _draft(people: Any) -> FormSubmission:
    agent = people["agent"]
    return submission_create_draft(
        actor=agent,
        definition=definition_get(agent, "evidence"),
        customer=people["customer"],
        data={"note": "see the file"},
    )


def attach(
    people: Any, filename: str, data: bytes, content_type: str = "text/markdown"
) -> tuple[Any, FormSubmission]:
    """Through a draft's attachment API."""
    draft = _draft(people)
    body = multipart({"field": "evidence"}, "file", filename, data, content_type)
    response = _post(_api(people["agent"]), f"/api/v1/submissions/{draft.pk}/files/", body)
    return response, draft


def attach_page(
    people: Any, filename: str, data: bytes, content_type: str = "text/markdown"
) -> Any:
    """Through the form page (a draft saved with its file)."""
    fields = {"customer": str(people["customer"].pk), "note": "n", "action": "save"}
    body = multipart(fields, "evidence", filename, data, content_type)
    return _post(_page(people["agent"]), "/forms/evidence/", body)


def disposition_name(header: str) -> str:
    """The file name of an ``attachment`` Content-Disposition; fails unless the header is one
    line with exactly one name: a quoted string or an RFC 5987 ``filename*``."""
    assert "\r" not in header and "\n" not in header and "\x00" not in header, header
    quoted = re.fullmatch(r'attachment; filename="((?:[^"\\]|\\.)*)"', header)
    if quoted:
        return re.sub(r"\\(.)", r"\1", quoted.group(1))
    encoded = re.fullmatch(r"attachment; filename\*=utf-8''([A-Za-z0-9!#$&+.^_`|~%-]+)", header)
    assert encoded, header
    return unquote(encoded.group(1), errors="strict")


def assert_safe_name(name: str) -> None:
    assert name and len(name) <= 255, name
    assert all(c.isprintable() for c in name), ascii(name)
    assert "/" not in name and "\\" not in name, name


def assert_document_stored_safely(document: Document, media: Path) -> None:
    """Inside MEDIA_ROOT/documents, in a random folder, under a short printable name."""
    assert DOCUMENTS_PATH.fullmatch(document.file.name), document.file.name
    path = Path(document.file.path).resolve()
    assert path.is_relative_to(media.resolve() / "documents") and path.is_file()
    component = path.name
    assert all(c.isprintable() for c in component) and len(component.encode()) <= 120
    assert_safe_name(document.original_filename)


def assert_attachment_stored_safely(attachment: SubmissionAttachment, media: Path) -> None:
    """Inside MEDIA_ROOT/submissions, under a random name that keeps nothing of the upload's."""
    assert ATTACHMENT_PATH.fullmatch(attachment.file.name), attachment.file.name
    path = Path(attachment.file.path).resolve()
    assert path.is_relative_to(media.resolve() / "submissions") and path.is_file()
    assert_safe_name(attachment.original_filename)


# --------------------------------------------------------------------------- file names

# (case, the name as the client sends it, the name kept; None: refused, nothing stored)
HOSTILE_NAMES: list[tuple[str, str, str | None]] = [
    ("traversal", "../../../../etc/passwd.md", "passwd.md"),
    ("windows traversal", "..\\..\\..\\Windows\\win.md", "win.md"),
    ("absolute path", "/etc/cron.d/evil.md", "evil.md"),
    ("drive path", "C:\\Users\\Public\\evil.md", "evil.md"),
    ("parent only", "..", None),
    ("encoded traversal", "..&#47;..&#47;etc&#47;passwd.md", "passwd.md"),
    ("NUL", "evil\x00.pdf.md", "evil.pdf.md"),
    ("CR LF header injection", "a.md\r\nSet-Cookie: pwned=1\r\nX: .md",
     "a.mdSet-Cookie: pwned=1X: .md"),
    ("quotes header injection", 'r.md"; filename*=UTF-8\'\'evil.exe; x="y.md',
     'r.md"; filename*=UTF-8\'\'evil.exe; x="y.md'),
    ("RTL override", "invoice\u202egpj.md", "invoicegpj.md"),
    ("zero-width and BOM", "fe\u200bes\ufeff.md", "fees.md"),
    ("HTML", '"><img src=x onerror=alert(1)>.md', '"><img src=x onerror=alert(1)>.md'),
    ("script", "<script>alert(1)</script>.md", "script>.md"),
    ("Windows reserved", "CON.md", "CON.md"),
    ("Windows reserved with stream", "NUL:evil.md", "NUL:evil.md"),
    ("300 characters", "n" * 300 + ".md", ("n" * 300 + ".md")[-255:]),
    ("200 CJK characters", "名" * 200 + ".md", "名" * 200 + ".md"),
    ("200 emoji", "\U0001f4b8" * 200 + ".md", "\U0001f4b8" * 200 + ".md"),
    ("emoji only, the type claimed", "\U0001f4b8\U0001f4b8", "\U0001f4b8\U0001f4b8"),
    # Over Django's 1 KB for a part's headers: the body cannot be read, and the answer says so.
    ("1,000 characters", "n" * 1000 + ".md", None),
]  # fmt: skip
REFUSALS = {
    "parent only": "Upload a file",
    "1,000 characters": "The upload could not be read",
}


def _refusal(response: Any) -> str:
    body = response.json()
    return " ".join([body["message"], *map(str, body["extra"].get("fields", {}).values())])


@pytest.mark.parametrize(("case", "sent", "kept"), HOSTILE_NAMES, ids=[c[0] for c in HOSTILE_NAMES])
def test_hostile_file_names_of_documents(
    people: Any, media: Path, case: str, sent: str, kept: str | None
) -> None:
    response, document = upload_document(people, sent, MARKDOWN)
    if kept is None:
        assert response.status_code == 400
        assert REFUSALS[case] in _refusal(response)
        assert document is None and stored_files(media) == set()
        return
    assert response.status_code == 201, response.content
    assert document is not None and document.status == DocumentStatus.PENDING
    assert document.original_filename == kept
    assert_document_stored_safely(document, media)
    assert stored_files(media) == {document.file.name}
    # The pipeline reads it back from where it is.
    ingest([document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    # The document page shows the name escaped.
    page = _page(people["manager"]).get(f"/knowledge/documents/{document.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert str(escape(kept)) in html
    if "<" in kept:
        assert kept not in html


@pytest.mark.parametrize(("case", "sent", "kept"), HOSTILE_NAMES, ids=[c[0] for c in HOSTILE_NAMES])
def test_hostile_file_names_of_attachments(
    people: Any, media: Path, case: str, sent: str, kept: str | None
) -> None:
    response, draft = attach(people, sent, MARKDOWN)
    if kept is None:
        assert response.status_code == 400
        assert case == "parent only" or REFUSALS[case] in _refusal(response)
        assert not SubmissionAttachment.objects.exists() and stored_files(media) == set()
        return
    assert response.status_code == 201, response.content
    attachment = SubmissionAttachment.objects.get(submission=draft)
    assert attachment.original_filename == kept
    assert response.json()["data"]["evidence"]["filename"] == kept
    assert_attachment_stored_safely(attachment, media)
    assert stored_files(media) == {attachment.file.name}

    submission_submit(actor=people["agent"], submission=draft)  # its page lists the file
    agent = _page(people["agent"])
    page = agent.get(f"/forms/submissions/{draft.pk}/").content.decode()
    assert str(escape(kept)) in page
    if "<" in kept:
        assert kept not in page
    download = agent.get(f"/forms/submissions/{draft.pk}/files/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == MARKDOWN
    # One header line, one name, the stored one: nothing injected.
    assert disposition_name(download["Content-Disposition"]) == kept
    if not kept.isascii():
        assert download["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in download or "pwned" not in download["Set-Cookie"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../../etc/passwd.md", "passwd.md"),
        ('"><img src=x onerror=alert(1)>.md', '"><img src=x onerror=alert(1)>.md'),
        ("名" * 200 + ".md", "名" * 200 + ".md"),
    ],
)
def test_hostile_file_names_through_the_pages(
    people: Any, media: Path, sent: str, kept: str
) -> None:
    response, document = upload_document_page(people, sent, MARKDOWN)
    assert response.status_code == 302, response.content[:2000]
    assert document is not None and document.original_filename == kept[-255:]
    assert_document_stored_safely(document, media)

    response = attach_page(people, sent, MARKDOWN)
    assert response.status_code == 302, response.content[:2000]
    attachment = SubmissionAttachment.objects.get()
    assert attachment.original_filename == kept
    assert_attachment_stored_safely(attachment, media)
    assert stored_files(media) == {document.file.name, attachment.file.name}


def test_a_name_too_long_to_read_is_refused_with_the_reason_on_the_pages(
    people: Any, media: Path
) -> None:
    name = "n" * 1000 + ".md"
    for response in (
        upload_document_page(people, name, MARKDOWN)[0],
        attach_page(people, name, MARKDOWN),
    ):
        assert response.status_code == 400
        assert response.content.decode().startswith("The upload could not be read")
    assert not Document.objects.exists() and not FormSubmission.objects.exists()
    assert stored_files(media) == set()


@pytest.mark.parametrize(
    "name",
    ["../../../etc/passwd.md", "a\x00b.md", "x" * 400 + ".md", "名" * 200 + ".md", "..\\..\\e.md"],
    ids=["traversal", "NUL", "400 characters", "200 CJK characters", "backslashes"],
)
def test_hostile_names_given_to_the_service_directly(
    collections: dict[str, Collection], media: Path, name: str
) -> None:
    """What the ``ingest`` command, URL fetching or any other caller hands the service,
    without Django's multipart parser in between."""
    from django.core.files.base import ContentFile

    from knowledge.services import document_create

    document = document_create(
        actor=None,
        collection=collections["products-fees"],
        title="Direct",
        file=ContentFile(MARKDOWN, name=name),
        enqueue=False,
    )
    assert document.status == DocumentStatus.PENDING, document.error
    assert_document_stored_safely(document, media)
    assert document.original_filename.endswith(".md")
    assert stored_files(media) == {document.file.name}


# --------------------------------------------------------------------------- polyglots

HTML_SCRIPT = (
    b"<html><head><script>window.__pwned = 1</script></head>"
    b"<body><p>Fees are 5 euros.</p><img src=x onerror=alert(1)></body></html>"
)
PDF = make_pdf([["The annual card fee is 5 euros."]])


def _zip(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _docx_with(extra: dict[str, bytes], first: str | None = None) -> bytes:
    """``make_docx()`` with more parts (``first`` written before every other part)."""
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if first is not None:
            archive.writestr(first, b"")
        for item in source.infolist():
            archive.writestr(item, source.read(item.filename))
        for name, data in extra.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# (case, name, claimed type, data, refused at upload with this text, else None)
POLYGLOTS: list[tuple[str, str, str, bytes, str | None]] = [
    ("PDF header then HTML with script", "fees.pdf", "application/pdf",
     b"%PDF-1.4\n" + HTML_SCRIPT, None),
    (".pdf that is HTML with script", "fees.pdf", "application/pdf", HTML_SCRIPT,
     "claims to be a PDF but its content is not a PDF"),
    (".pdf that is HTML, claimed as HTML", "fees.pdf", "text/html", HTML_SCRIPT, None),
    ("HTML hiding a PDF header", "fees.html", "text/html",
     HTML_SCRIPT + b"<!-- %PDF-1.4 -->", None),
    ("PDF claimed as HTML", "fees.html", "text/html", PDF, "but its content is a PDF"),
    (".docx that is not a ZIP", "fees.docx", "application/octet-stream", MARKDOWN,
     "claims to be a Word document but its content is not"),
    (".docx that is a PDF", "fees.docx", "", PDF, "its content is a PDF"),
    (".docx that is a ZIP of something else", "fees.docx", "", _zip({"xl/workbook.xml": b"<w/>"}),
     "a ZIP archive without a Word document inside"),
    (".docx that is a damaged ZIP", "fees.docx", "", b"PK\x03\x04" + bytes(60), "damaged"),
    ("PDF with a Word document appended, as .docx", "fees.docx", "", PDF + make_docx(),
     "its content is a PDF"),
    ("PDF with a Word document appended, as .pdf", "fees.pdf", "application/pdf",
     PDF + make_docx(), None),
    ("Word document with a PDF header inside, as .pdf", "fees.pdf", "application/pdf",
     _docx_with({}, first="%PDF-1.4"), None),
    ("Word document with a PDF header inside, as .docx", "fees.docx", "",
     _docx_with({}, first="%PDF-1.4"), None),
    ("Markdown with script and images", "fees.md", "text/markdown",
     b"# Fees\n\n<script>window.__pwned=1</script>\n\nFees are 5 euros.\n"
     b"![x](https://evil.example/?q=1)\n", None),
    ("SVG with script", "fees.svg", "image/svg+xml",
     b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "not a supported file type"),
    ("Windows program named .txt", "fees.txt", "text/plain",
     b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" * 8, "binary data"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "name", "claimed", "data", "refused"), POLYGLOTS, ids=[p[0] for p in POLYGLOTS]
)
def test_polyglot_documents(
    people: Any, media: Path, case: str, name: str, claimed: str, data: bytes, refused: str | None
) -> None:
    response, document = upload_document(people, name, data, claimed)
    assert response.status_code == 201, response.content
    assert document is not None
    if refused is not None:
        assert document.status == DocumentStatus.FAILED
        assert refused in document.error, document.error
        assert not document.file and stored_files(media) == set()
        return
    assert document.status == DocumentStatus.PENDING, document.error
    ingest([document.pk])
    document.refresh_from_db()
    assert document.status in (DocumentStatus.READY, DocumentStatus.FAILED)
    texts = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))
    if document.status == DocumentStatus.FAILED:
        assert document.error and not texts
    else:
        assert ("Fees apply" if data.startswith(b"PK") else "5 euros") in texts
    # Script never becomes text anyone reads as code; pages show what there is escaped.
    assert "window.__pwned" not in texts or name.endswith(".md")
    html = _page(people["manager"]).get(f"/knowledge/documents/{document.pk}/").content.decode()
    assert "<script>window" not in html and "<img src=x" not in html


@pytest.mark.parametrize(
    ("case", "name", "claimed", "data", "refused"), POLYGLOTS, ids=[p[0] for p in POLYGLOTS]
)
def test_polyglot_attachments(
    people: Any, media: Path, case: str, name: str, claimed: str, data: bytes, refused: str | None
) -> None:
    response, draft = attach(people, name, data, claimed or "application/octet-stream")
    if refused is not None:
        assert response.status_code == 400, response.content
        assert refused in " ".join(response.json()["extra"]["fields"]["evidence"])
        assert not SubmissionAttachment.objects.exists() and stored_files(media) == set()
        draft.refresh_from_db()
        assert "evidence" not in draft.data
        return
    assert response.status_code == 201, response.content
    attachment = SubmissionAttachment.objects.get()
    download = _page(people["agent"]).get(f"/forms/submissions/{draft.pk}/files/{attachment.pk}/")
    assert b"".join(download.streaming_content) == data
    # Never shown inline, never sniffed, and the type is the one the content was checked as.
    assert download["Content-Disposition"].startswith("attachment; ")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] in {
        "application/pdf",
        "text/html",
        "text/markdown",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
    assert "script-src 'self'" in download["Content-Security-Policy"]


def test_claimed_content_types_are_not_served_back(people: Any, media: Path) -> None:
    """A download's type is the checked format's, never the client's words."""
    for claimed in ("text/html; charset=utf-7", "application/pdf; x=" + "a" * 200):
        data = HTML_SCRIPT if claimed.startswith("text/html") else PDF
        response, draft = attach(
            people, "fees.html" if data is HTML_SCRIPT else "s.pdf", data, claimed
        )
        assert response.status_code == 201, response.content
        attachment = SubmissionAttachment.objects.get(submission=draft)
        assert attachment.content_type in {"text/html", "application/pdf"}
        download = _page(people["agent"]).get(
            f"/forms/submissions/{draft.pk}/files/{attachment.pk}/"
        )
        assert download["Content-Type"] == attachment.content_type
    assert len(stored_files(media)) == 2


# --------------------------------------------------------------------------- ZIP bombs


def zip_of_many_parts(count: int, claimed_count: int | None = None, zip64: bool = False) -> bytes:
    """A ZIP of ``count`` empty stored parts and a Word main part, written directly (fast):
    small on the wire, yet a directory zipfile must build ``count`` objects from. With
    ``claimed_count`` the end record lies about how many parts there are; with ``zip64`` the
    classic end record lies about both and a ZIP64 record (which zipfile believes) does not."""
    local = struct.Struct("<4s5H3L2H")
    central = struct.Struct("<4s6H3L5H2L")
    out = bytearray()
    directory = bytearray()
    names = [b"word/document.xml", *(b"%x" % n for n in range(count))]
    for name in names:
        data = b"<w/>" if name == b"word/document.xml" else b""
        crc = zlib.crc32(data)
        offset = len(out)
        out += local.pack(b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
        out += name + data
        directory += central.pack(
            b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0, 0, 0, 0,
            0, offset,
        )  # fmt: skip
        directory += name
    entries = len(names) if claimed_count is None else claimed_count
    size = len(directory)
    tail = b""
    if zip64:
        record_at = len(out) + len(directory)
        tail = struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, len(out)
        ) + struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
        entries, size = 3, 100  # what the classic record says
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, min(entries, 0xFFFF), min(entries, 0xFFFF),
        size, len(out), 0,
    )  # fmt: skip
    return bytes(out + directory + tail + end)


@pytest.fixture
def zipfile_reads_no_directory(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records how many ZIP directories zipfile read in full (each costs ~1 KB and ~10 µs a
    part; a 25 MB file of empty parts: ~300,000 of them, seconds and ~300 MB)."""
    reads: list[int] = []
    real = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]

    def counting(self: zipfile.ZipFile) -> None:
        real(self)
        reads.append(len(self.filelist))

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting)
    return reads


BOMBS: list[tuple[str, Callable[[], bytes]]] = [
    ("60,000 empty parts", lambda: zip_of_many_parts(60_000)),
    ("60,000 parts, the end record saying 3", lambda: zip_of_many_parts(60_000, claimed_count=3)),
    ("60,000 parts in a ZIP64 directory", lambda: zip_of_many_parts(60_000, zip64=True)),
]


@pytest.mark.parametrize(("case", "make"), BOMBS, ids=[b[0] for b in BOMBS])
def test_a_zip_of_many_parts_is_refused_from_its_end_record(
    people: Any,
    media: Path,
    zipfile_reads_no_directory: list[int],
    case: str,
    make: Callable[[], bytes],
) -> None:
    data = make()
    started = time.process_time()
    _, document = upload_document(people, "many.docx", data, "")
    attached, _ = attach(people, "many.docx", data, "")
    used = time.process_time() - started
    assert document is not None and document.status == DocumentStatus.FAILED
    assert "ZIP directory" in document.error and "Save it again from Word" in document.error
    assert attached.status_code == 400
    assert "ZIP directory" in " ".join(attached.json()["extra"]["fields"]["evidence"])
    # Refused before zipfile built the directory, so in a fraction of the time.
    assert zipfile_reads_no_directory == []
    assert used < 2, f"{used:.1f} s of CPU"
    assert stored_files(media) == set() and not SubmissionAttachment.objects.exists()


def test_a_word_document_of_ordinary_parts_still_passes(
    people: Any, media: Path, zipfile_reads_no_directory: list[int]
) -> None:
    data = _docx_with({f"word/media/image{n}.png": b"\x89PNG" + bytes(64) for n in range(500)})
    _, document = upload_document(people, "many-images.docx", data, "")
    assert document is not None and document.status == DocumentStatus.PENDING, document.error
    ingest([document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    assert zipfile_reads_no_directory  # read normally


@pytest.mark.parametrize(
    ("case", "data", "reason"),
    [
        ("deflate bomb (8 MB from 25 KB)", make_docx_bomb(), "packed unusually tightly"),
        ("nested ZIP bomb, stored", _docx_with({"word/media/inner.zip": make_docx_bomb()}), None),
    ],
    ids=["deflate bomb", "nested bomb"],
)
def test_bombs_through_both_doors(
    people: Any, media: Path, case: str, data: bytes, reason: str | None
) -> None:
    started = time.process_time()
    _, document = upload_document(people, "bomb.docx", data, "")
    assert document is not None
    if reason:
        assert document.status == DocumentStatus.FAILED and reason in document.error
        assert not document.file
    else:
        # Nested archives are never opened: only Word's XML parts are read.
        ingest([document.pk])
        document.refresh_from_db()
        assert document.status == DocumentStatus.READY, document.error
    assert time.process_time() - started < 20
    # Attachments are stored as they are and never unpacked: the bomb costs nothing.
    attached, _ = attach(people, "bomb.docx", data, "")
    assert attached.status_code == 201, attached.content


# --------------------------------------------------------------------------- PDF pages


def test_a_thousand_page_pdf_is_read_and_one_over_the_limit_is_refused(
    people: Any, media: Path, settings: Any
) -> None:
    thousand = make_pdf([[f"Page {n} of the tariff: fee code F{n:04d}."] for n in range(1, 1001)])
    _, document = upload_document(people, "tariff.pdf", thousand, "application/pdf")
    assert document is not None and document.status == DocumentStatus.PENDING, document.error
    started = time.process_time()
    ingest([document.pk])
    used = time.process_time() - started
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY, document.error
    pages = Chunk.objects.filter(document=document).values_list("page", flat=True)
    assert min(pages) == 1 and max(pages) >= 990
    texts = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))
    assert "F0001" in texts and "F1000" in texts
    assert used < 120, f"{used:.0f} s of CPU"

    over = make_pdf([["x"]] * (settings.KNOWLEDGE_MAX_PDF_PAGES + 1))
    _, document = upload_document(people, "huge.pdf", over, "application/pdf")
    assert document is not None
    ingest([document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    assert document.error == (
        "The PDF has 2,001 pages; the limit is 2,000. Split it into smaller files."
    )
    assert not Chunk.objects.filter(document=document).exists()


# --------------------------------------------------------------------------- size limits


def test_size_limits_at_every_door(people: Any, media: Path, settings: Any) -> None:
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 2048
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = b"# Big\n\n" + b"word " * 500  # 2.5 KB: over the file limit, within the body limit
    message = "The file is 2.4 KB; the limit is 2 KB."

    response, document = upload_document(people, "big.md", big)
    assert response.status_code == 201 and document is not None
    assert (document.status, document.error) == (DocumentStatus.FAILED, message)
    response, document = upload_document_page(people, "big.md", big)
    assert response.status_code == 302 and document is not None and document.error == message
    response, _ = attach(people, "big.md", big)
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["evidence"] == [message]
    response = attach_page(people, "big.md", big)
    assert response.status_code == 200 and message in response.content.decode()
    assert stored_files(media) == set() and not SubmissionAttachment.objects.exists()

    # Over the file limit plus the form limit: 413 from Content-Length, the body unread.
    huge = b"x" * 4096
    too_large = "The request body is too large: the limit is 3 KB."
    for response in (upload_document(people, "huge.md", huge)[0], attach(people, "h.md", huge)[0]):
        assert response.status_code == 413
        assert response.json() == {"message": too_large, "extra": {"limit_bytes": 3072}}
    for response in (
        upload_document_page(people, "huge.md", huge)[0],
        attach_page(people, "h.md", huge),
    ):
        assert response.status_code == 413
        assert response.content.decode() == too_large
    assert stored_files(media) == set() and not SubmissionAttachment.objects.exists()


# --------------------------------------------------------------------------- encodings

# (case, name, data, the text a ready document holds; None: refused with ``reason``)
ENCODINGS: list[tuple[str, str, bytes, str | None, str]] = [
    ("UTF-8 with BOM", "fees.md", "\ufeff# Gebühren\n\nDie Gebühr beträgt 5 €.".encode(),
     "Die Gebühr beträgt 5 €.", ""),
    ("Latin-1", "fees.txt", "Gebühr für Überweisungen: 5 Euro.".encode("latin-1"),
     "Gebühr für Überweisungen: 5 Euro.", ""),
    ("Windows-1252", "fees.md", "# Fees\n\n“Gold” cards \u2013 5 €.".encode("cp1252"),
     "“Gold” cards \u2013 5 €.", ""),
    ("UTF-16 LE with BOM", "fees.txt", "Fees are 5 euros.".encode("utf-16"), None,
     "save it as UTF-8"),
    ("UTF-16 BE without BOM", "fees.md", "# Fees\n\nFees are 5 euros.".encode("utf-16-be"), None,
     "save it as UTF-8"),
    ("UTF-32", "fees.txt", "Fees are 5 euros.".encode("utf-32"), None, "save it as UTF-8"),
    ("invalid UTF-8, not Windows-1252 either", "fees.md", b"# Fees\n\nFees \x81\x8d\x90 apply.",
     None, "save it as UTF-8"),
    ("encoded lone surrogate", "fees.md", b"# Fees\n\nFees \xed\xa0\x80 are 5 euros.",
     "are 5 euros.", ""),
    ("NUL after the first 8 KB", "fees.md", b"# Fees\n\n" + b"Fees are 5 euros. " * 500
     + b"\x00\x00 More fees.", "More fees.", ""),
    ("only invisible characters", "fees.md", "\ufeff\u200b\u2060\u00ad \n".encode(), None,
     "no text"),
    ("HTML declaring UTF-16, written in UTF-8", "fees.html",
     '<meta charset="utf-16"><p>Gebühr: 5 €</p>'.encode(), "Gebühr: 5 €", ""),
    # Text that is neither UTF-8 nor Windows-1252 is refused at upload, whatever it declares.
    ("HTML in Shift_JIS", "fees.html",
     '<meta charset="shift_jis"><p>手数料は5ユーロです</p>'.encode("shift_jis"), None,
     "save it as UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "name", "data", "text", "reason"), ENCODINGS, ids=[e[0] for e in ENCODINGS]
)
def test_encodings_ingest_or_fail_with_a_reason(
    people: Any, media: Path, case: str, name: str, data: bytes, text: str | None, reason: str
) -> None:
    claimed = {".md": "text/markdown", ".txt": "text/plain", ".html": "text/html"}
    response, document = upload_document(people, name, data, claimed[Path(name).suffix])
    assert response.status_code == 201, response.content
    assert document is not None
    if document.status == DocumentStatus.PENDING:
        ingest([document.pk])
        document.refresh_from_db()
    # Never a 500, never left processing: ready, or failed with a reason.
    assert document.status in (DocumentStatus.READY, DocumentStatus.FAILED)
    texts = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))
    if text is None:
        assert document.status == DocumentStatus.FAILED
        assert reason in document.error, document.error
        assert not texts
    else:
        assert document.status == DocumentStatus.READY, document.error
        assert text in texts
        assert "\x00" not in texts and "\ufeff" not in texts
    page = _page(people["manager"]).get(f"/knowledge/documents/{document.pk}/")
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("case", "name", "data", "text", "reason"), ENCODINGS, ids=[e[0] for e in ENCODINGS]
)
def test_encodings_as_attachments(
    people: Any, media: Path, case: str, name: str, data: bytes, text: str | None, reason: str
) -> None:
    """Attachments are checked like documents at upload (not parsed): stored exactly, or
    refused with the reason."""
    claimed = {".md": "text/markdown", ".txt": "text/plain", ".html": "text/html"}
    response, draft = attach(people, name, data, claimed[Path(name).suffix])
    if response.status_code == 400:
        assert reason and reason in " ".join(response.json()["extra"]["fields"]["evidence"])
        assert stored_files(media) == set()
        return
    assert response.status_code == 201, response.content
    attachment = SubmissionAttachment.objects.get()
    download = _page(people["agent"]).get(f"/forms/submissions/{draft.pk}/files/{attachment.pk}/")
    assert b"".join(download.streaming_content) == data
