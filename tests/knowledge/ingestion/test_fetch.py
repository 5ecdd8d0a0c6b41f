"""Documents fetched from a source URL: allowed hosts only, refreshed on reprocess."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from knowledge.ingestion.fetch import fetch_url, host_allowed
from knowledge.ingestion.parsers import ParseError
from knowledge.ingestion.pipeline import ingest
from knowledge.models import Chunk, Collection, DocumentStatus
from knowledge.services import document_create, document_reprocess

PAGES: dict[str, tuple[int, str, bytes]] = {}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        status, kind, body = PAGES.get(self.path, (404, "text/plain", b"missing"))
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", body.decode())
            body = b""
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def intranet(settings: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.KNOWLEDGE_URL_ALLOWED_HOSTS = ["127.0.0.1"]
    PAGES.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_host_allowlist(settings: Any) -> None:
    settings.KNOWLEDGE_URL_ALLOWED_HOSTS = ["docs.bank.example", ".intranet.example"]
    assert host_allowed("https://docs.bank.example/a.pdf")
    assert host_allowed("http://wiki.intranet.example/x")
    assert not host_allowed("https://evil.example/a.pdf")
    assert not host_allowed("https://docs.bank.example.evil.example/")
    assert not host_allowed("file:///etc/passwd")
    assert not host_allowed("ftp://docs.bank.example/a")


def test_redirect_to_another_host_is_refused(intranet: str) -> None:
    PAGES["/moved"] = (302, "text/html", b"http://169.254.169.254/latest/meta-data/")
    with pytest.raises(ParseError, match=r"169\.254\.169\.254 is not allowed"):
        fetch_url(f"{intranet}/moved")
    PAGES["/gone"] = (404, "text/plain", b"")
    with pytest.raises(ParseError, match="HTTP 404"):
        fetch_url(f"{intranet}/gone")


def test_a_page_over_the_upload_limit_is_refused_in_the_docs_units(
    intranet: str, settings: Any
) -> None:
    # The limit was shown as decimal MB ("26 MB" for 25 MiB) where the docs and the upload
    # form say "25 MB".
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
    PAGES["/big"] = (200, "text/plain", b"x" * (25 * 1024 * 1024 + 1))
    with pytest.raises(ParseError, match=r"^The document at the URL is over 25 MB, the limit\.$"):
        fetch_url(f"{intranet}/big")


@pytest.mark.django_db
def test_url_document_is_fetched_and_refreshed(
    collections: dict[str, Collection], intranet: str, make_user: Any
) -> None:
    PAGES["/policies/fees.html"] = (
        200, "text/html", b"<h1>Fees</h1><p>Wire transfers cost 15.</p>",
    )  # fmt: skip
    document = document_create(
        actor=None,
        collection=collections["products-fees"],
        title="Fees page",
        source_url=f"{intranet}/policies/fees.html",
        enqueue=False,
    )
    assert document.status == DocumentStatus.PENDING
    ingest([document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY and document.sha256
    assert "15" in Chunk.objects.get(document=document).text
    # The page changes; reprocessing fetches it again.
    PAGES["/policies/fees.html"] = (
        200,
        "text/html",
        b"<h1>Fees</h1><p>Wire transfers cost 20.</p>",
    )
    document_reprocess(actor=None, document=document)
    ingest([document.pk])
    assert "20" in Chunk.objects.get(document=document).text


@pytest.mark.django_db
def test_url_of_a_host_not_allowed_fails_at_once(collections: dict[str, Collection]) -> None:
    document = document_create(
        actor=None,
        collection=collections["products-fees"],
        title="Outside",
        source_url="https://example.com/policy.pdf",
        enqueue=False,
    )
    assert document.status == DocumentStatus.FAILED
    assert "example.com is not allowed" in document.error
