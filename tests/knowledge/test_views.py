"""Knowledge pages: search, document list, upload, detail, replace and reprocess."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from knowledge.models import Document, DocumentStatus
from portal.audit import fingerprint
from portal.models import AuditEvent
from tests.knowledge.canaries import EXPECTED, add_canaries, canary_word

pytestmark = pytest.mark.django_db

XSS_TEXT = "Monthly card fee is five euros. <script>alert(1)</script> Waived for students."


def _html(response: Any) -> str:
    return response.content.decode()


def test_every_page_requires_login(client: Client) -> None:
    for name, args in [
        ("knowledge:search", []),
        ("knowledge:document_list", []),
        ("knowledge:document_upload", []),
        ("knowledge:document_detail", [1]),
    ]:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("login")), name
    for name in ("knowledge:document_replace", "knowledge:document_reprocess"):
        response = client.post(reverse(name, args=[1]))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("login")), name


def test_integration_account_gets_no_portal_page(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    client.force_login(role_users["integration"])
    for name in ("knowledge:search", "knowledge:document_list", "knowledge:document_upload"):
        assert client.get(reverse(name)).status_code == 403, name
    assert client.get(reverse("knowledge:search"), {"q": "fees"}).status_code == 403


def test_navigation_and_dashboard_link_the_pages(
    client: Client, role_users: dict[str, Any]
) -> None:
    client.force_login(role_users["agent"])
    html = _html(client.get(reverse("portal:dashboard")))
    labels = re.findall(r'class="nav-link[^"]*" href="[^"]*"[^>]*>([^<]+)<', html)
    assert labels == [
        "Dashboard",
        "Assistant",
        "Secure messages",
        "Search",
        "Documents",
        "Customers",
        "Forms",
    ]
    assert f'href="{reverse("knowledge:search")}"' in html


def test_search_shows_highlighted_snippet_and_escapes_text(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Card fees", XSS_TEXT, name="fees.txt")
    assert document.status == DocumentStatus.READY
    client.force_login(role_users["agent"])
    response = client.get(reverse("knowledge:search"), {"q": "monthly card fee"})
    assert response.status_code == 200
    html = _html(response)
    assert "<mark>" in html
    assert "<script>alert(1)</script>" not in html
    assert "alert(1)" in html  # the snippet keeps the words, never the tag
    detail = reverse("knowledge:document_detail", args=[document.pk])
    assert re.search(rf'href="{detail}#chunk-\d+"', html)
    assert "Product &amp; fee schedules" in html  # collection badge, escaped
    assert AuditEvent.objects.filter(action="knowledge.search", actor=role_users["agent"]).exists()

    page = _html(client.get(detail))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="chunk-0"' in page
    assert "portal-chunk-text" in page


def test_search_form_states(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    client.force_login(role_users["agent"])
    empty = client.get(reverse("knowledge:search"))
    assert empty.status_code == 200
    assert "is-invalid" not in _html(empty)
    assert empty.context["result"] is None

    nothing = client.get(
        reverse("knowledge:search"), {"q": "qqqnothingmatchesthis", "mode": "keyword"}
    )
    assert "No results" in _html(nothing)
    defaults = client.get(reverse("knowledge:search"), {"q": "qqqnothingmatchesthis"})
    assert defaults.context["form"]["k"].value() == "10"
    assert defaults.context["form"].cleaned_data["mode"] == "hybrid"

    too_long = client.get(reverse("knowledge:search"), {"q": "x" * 1001})
    assert too_long.status_code == 200
    assert too_long.context["result"] is None
    assert "is-invalid" in _html(too_long)

    bad_k = client.get(reverse("knowledge:search"), {"q": "fees", "k": "0"})
    assert bad_k.status_code == 200
    assert "k" in bad_k.context["form"].errors

    # A collection the agent may not read is not even a choice.
    hidden = client.get(reverse("knowledge:search"), {"q": "fees", "collection": "compliance-aml"})
    assert hidden.status_code == 200
    assert "collection" in hidden.context["form"].errors
    assert "Compliance &amp; AML" not in _html(hidden)  # its name is never shown


def test_search_service_validation_error_becomes_a_form_error(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any], settings: Any
) -> None:
    settings.KNOWLEDGE_SEARCH_MAX_K = 5  # the form allows 50, the selector refuses
    client.force_login(role_users["agent"])
    response = client.get(reverse("knowledge:search"), {"q": "fees", "k": "20"})
    assert response.status_code == 200
    assert "k must be between 1 and 5" in _html(response)


def test_agent_cannot_see_compliance_documents(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    secret = add_document(
        collections["compliance-aml"], "SAR escalation", "Suspicious activity zqsarword steps."
    )
    client.force_login(role_users["agent"])
    listing = _html(client.get(reverse("knowledge:document_list")))
    assert "SAR escalation" not in listing
    detail = reverse("knowledge:document_detail", args=[secret.pk])
    assert client.get(detail).status_code == 404
    assert (
        client.get(reverse("knowledge:document_detail", args=[secret.pk + 999])).status_code == 404
    )
    result = client.get(reverse("knowledge:search"), {"q": "zqsarword suspicious activity"})
    assert result.context["result"].hits == []
    assert "SAR escalation" not in _html(result)

    client.force_login(role_users["compliance"])
    assert "SAR escalation" in _html(client.get(reverse("knowledge:document_list")))
    assert client.get(detail).status_code == 200


def test_document_list_filters_badges_and_upload_button(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    add_document(collections["products-fees"], "Savings rates", "Savings rate is 2 percent.")
    add_document(collections["fraud-disputes"], "Chargebacks", "Chargeback within 120 days.")
    client.force_login(role_users["agent"])
    response = client.get(reverse("knowledge:document_list"))
    html = _html(response)
    assert "Savings rates" in html and "Chargebacks" in html
    assert "text-bg-success" in html  # ready
    assert "Upload document" not in html
    filtered = _html(
        client.get(reverse("knowledge:document_list"), {"collection": "fraud-disputes"})
    )
    assert "Chargebacks" in filtered and "Savings rates" not in filtered
    assert "Savings rates" not in _html(
        client.get(reverse("knowledge:document_list"), {"status": "failed"})
    )

    client.force_login(role_users["content_manager"])
    html = _html(client.get(reverse("knowledge:document_list")))
    assert "Upload document" in html


def test_document_list_is_paginated(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    Document.objects.bulk_create(
        Document(collection=collections["products-fees"], title=f"Doc {i:02}") for i in range(30)
    )
    client.force_login(role_users["agent"])
    first = client.get(reverse("knowledge:document_list"))
    assert len(first.context["documents"]) == 25
    assert "Page 1 of 2" in _html(first)
    second = client.get(reverse("knowledge:document_list"), {"page": 2})
    assert len(second.context["documents"]) == 5


def test_upload_by_content_manager(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    client.force_login(role_users["content_manager"])
    page = client.get(reverse("knowledge:document_upload"))
    assert page.status_code == 200
    html = _html(page)
    assert 'enctype="multipart/form-data"' in html
    assert 'type="date"' in html
    assert "Compliance &amp; AML" not in html  # only managed collections are offered

    upload = SimpleUploadedFile(
        "rates.md", b"# Rates\n\nThe savings rate is 2 percent.", content_type="text/markdown"
    )
    response = client.post(
        reverse("knowledge:document_upload"),
        {
            "collection": collections["fraud-disputes"].pk,
            "title": "Savings rates",
            "file": upload,
            "source_url": "https://intranet.example/rates",
            "effective_date": "2026-01-01",
        },
    )
    document = Document.objects.get(title="Savings rates")
    assert response.status_code == 302
    assert response.url == reverse("knowledge:document_detail", args=[document.pk])
    assert document.status == DocumentStatus.PENDING  # the task runs after commit
    assert document.collection == collections["fraud-disputes"]
    assert document.uploaded_by == role_users["content_manager"]
    assert str(document.effective_date) == "2026-01-01"
    assert AuditEvent.objects.filter(action="document.created", target_id=str(document.pk)).exists()

    detail = client.get(response.url)
    html = _html(detail)
    assert "queued for processing" in html
    assert 'href="https://intranet.example/rates" rel="noopener noreferrer"' in html


def test_upload_of_a_fake_pdf_records_a_failed_document(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    client.force_login(role_users["content_manager"])
    fake = SimpleUploadedFile("policy.pdf", b"just some text", content_type="application/pdf")
    response = client.post(
        reverse("knowledge:document_upload"),
        {"collection": collections["products-fees"].pk, "title": "Fake PDF", "file": fake},
        follow=True,
    )
    document = Document.objects.get(title="Fake PDF")
    assert document.status == DocumentStatus.FAILED
    assert "PDF" in document.error
    html = _html(response)
    assert "alert-warning" in html  # the message
    assert "alert-danger" in html  # the failure on the detail page
    assert "PDF" in html


def test_upload_form_errors(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    client.force_login(role_users["content_manager"])
    response = client.post(
        reverse("knowledge:document_upload"),
        {
            "collection": collections["compliance-aml"].pk,  # not managed by them
            "title": "Nope",
            "file": SimpleUploadedFile("a.txt", b"text", content_type="text/plain"),
            "source_url": "javascript:alert(1)",
        },
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"collection", "source_url"}
    assert not Document.objects.filter(title="Nope").exists()

    missing = client.post(reverse("knowledge:document_upload"), {"title": "No file"})
    assert "file" in missing.context["form"].errors


def test_agent_cannot_upload(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    client.force_login(role_users["agent"])
    assert client.get(reverse("knowledge:document_upload")).status_code == 403
    response = client.post(
        reverse("knowledge:document_upload"),
        {
            "collection": collections["products-fees"].pk,
            "title": "Sneaky",
            "file": SimpleUploadedFile("a.txt", b"text", content_type="text/plain"),
        },
    )
    assert response.status_code == 403
    assert not Document.objects.filter(title="Sneaky").exists()
    assert AuditEvent.objects.filter(action="permission.denied", actor=role_users["agent"]).exists()


def test_reprocess_and_replace_by_manager(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["fraud-disputes"], "Chargebacks", "Chargeback rules.")
    detail = reverse("knowledge:document_detail", args=[document.pk])

    client.force_login(role_users["agent"])  # reads the collection, does not manage it
    html = _html(client.get(detail))
    assert "Reprocess" not in html and "Replace file" not in html
    assert (
        client.post(reverse("knowledge:document_reprocess", args=[document.pk])).status_code == 403
    )

    client.force_login(role_users["content_manager"])
    html = _html(client.get(detail))
    assert reverse("knowledge:document_reprocess", args=[document.pk]) in html
    assert reverse("knowledge:document_replace", args=[document.pk]) in html
    response = client.post(reverse("knowledge:document_reprocess", args=[document.pk]), follow=True)
    assert response.redirect_chain[-1][0] == detail
    assert "queued for processing again" in _html(response)
    document.refresh_from_db()
    assert document.status == DocumentStatus.PENDING
    assert AuditEvent.objects.filter(
        action="document.reprocess", target_id=str(document.pk)
    ).exists()

    new_file = SimpleUploadedFile(
        "v2.md", b"# Rules\n\nNew chargeback rules.", content_type="text/markdown"
    )
    response = client.post(
        reverse("knowledge:document_replace", args=[document.pk]), {"file": new_file}, follow=True
    )
    assert "Version 2 was uploaded" in _html(response)
    document.refresh_from_db()
    assert (document.version, document.live_version) == (2, 1)
    assert document.versions.count() == 2

    no_file = client.post(reverse("knowledge:document_replace", args=[document.pk]), follow=True)
    assert "The file was not replaced" in _html(no_file)


def test_replace_and_reprocess_of_unreadable_document_is_404(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    secret = add_document(collections["compliance-aml"], "SAR", "Suspicious activity.")
    client.force_login(role_users["content_manager"])
    assert client.post(reverse("knowledge:document_reprocess", args=[secret.pk])).status_code == 404
    response = client.post(
        reverse("knowledge:document_replace", args=[secret.pk]),
        {"file": SimpleUploadedFile("a.txt", b"text", content_type="text/plain")},
    )
    assert response.status_code == 404


def test_source_url_is_a_link_only_for_web_addresses(
    client: Client, role_users: dict[str, Any], collections: dict[str, Any]
) -> None:
    document = Document.objects.create(
        collection=collections["products-fees"], title="Odd", source_url="ftp://files.example/x"
    )
    client.force_login(role_users["agent"])
    html = _html(client.get(reverse("knowledge:document_detail", args=[document.pk])))
    assert "ftp://files.example/x" in html
    assert 'href="ftp://' not in html


def test_pages_have_no_inline_script_or_style(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Fees", "Card fee details.")
    client.force_login(role_users["content_manager"])
    for url in (
        reverse("knowledge:search") + "?q=card+fee",
        reverse("knowledge:document_list"),
        reverse("knowledge:document_upload"),
        reverse("knowledge:document_detail", args=[document.pk]),
    ):
        html = _html(client.get(url))
        assert "<script>" not in html, url
        assert " style=" not in html, url
        assert not re.search(r"(src|href)=\"https?://", html), url


def test_canaries_on_the_search_page(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    add_canaries(collections, add_document)
    query = " ".join(canary_word(slug) for slug in collections)
    for role, expected in EXPECTED.items():
        client.force_login(role_users[role])
        response = client.get(reverse("knowledge:search"), {"q": query, "mode": "keyword"})
        if role == "integration":
            assert response.status_code == 403
            continue
        found = {hit.collection_slug for hit in response.context["result"].hits}
        assert found == expected, role
        html = _html(response)
        for slug in collections:
            assert (f"Canary {slug}" in html) == (slug in expected), (role, slug)


# The lifecycle: archive, restore, delete -------------------------------------------------

POLICY = "# Card policy\n\nThe zqcardpolicy replacement fee is 10 euros."


def _search_finds(client: Client, document: Document) -> bool:
    response = client.get(reverse("knowledge:search"), {"q": "zqcardpolicy", "mode": "keyword"})
    return any(hit.document_id == document.pk for hit in response.context["result"].hits)


def test_lifecycle_pages_require_login(client: Client) -> None:
    for name in ("document_archive", "document_restore", "document_delete"):
        response = client.post(reverse(f"knowledge:{name}", args=[1]))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("login")), name


def test_archive_restore_and_delete_from_the_document_page(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
    django_capture_on_commit_callbacks: Any,
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    detail = reverse("knowledge:document_detail", args=[document.pk])
    manager, agent = role_users["content_manager"], role_users["agent"]
    reader = Client()
    reader.force_login(agent)
    client.force_login(manager)
    html = _html(client.get(detail))
    assert reverse("knowledge:document_archive", args=[document.pk]) in html
    assert reverse("knowledge:document_delete", args=[document.pk]) in html
    assert "data-archived" not in html
    assert _search_finds(reader, document)

    response = client.post(
        reverse("knowledge:document_archive", args=[document.pk]),
        {"archive-reason": "Replaced by the 2027 schedule."},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == detail
    html = _html(response)
    assert "was archived" in html
    assert "data-archived" in html and manager.username in html
    assert "Replaced by the 2027 schedule." in html
    assert reverse("knowledge:document_restore", args=[document.pk]) in html
    assert reverse("knowledge:document_replace", args=[document.pk]) not in html
    assert "zqcardpolicy" in html  # the indexed text is kept for the records
    # Out of search at once, for the reader and the manager alike; the reader cannot open it.
    assert not _search_finds(reader, document) and not _search_finds(client, document)
    assert reader.get(detail).status_code == 404
    listed = client.get(reverse("knowledge:document_list")).context["documents"]
    assert document not in listed
    archived = client.get(reverse("knowledge:document_list"), {"archived": "true"})
    assert list(archived.context["documents"]) == [document]
    assert "Archived documents" in _html(archived) and "data-archived-badge" in _html(archived)
    again = client.post(reverse("knowledge:document_archive", args=[document.pk]), follow=True)
    assert "already archived" in _html(again)

    response = client.post(reverse("knowledge:document_restore", args=[document.pk]), follow=True)
    assert "was restored" in _html(response)
    assert _search_finds(reader, document)
    assert reader.get(detail).status_code == 200

    confirm = client.get(reverse("knowledge:document_delete", args=[document.pk]))
    assert confirm.status_code == 200
    html = _html(confirm)
    assert "Delete for good" in html and "csrfmiddlewaretoken" in html
    assert Document.objects.filter(pk=document.pk).exists()  # asking deletes nothing
    storage = Document._meta.get_field("file").storage
    assert storage.exists(document.file.name)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("knowledge:document_delete", args=[document.pk]),
            {"reason": "Published in error."},
            follow=True,
        )
    assert response.redirect_chain[-1][0] == reverse("knowledge:document_list")
    assert "was deleted" in _html(response)
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not storage.exists(document.file.name)
    assert client.get(detail).status_code == 404
    event = AuditEvent.objects.get(action="document.deleted", target_id=str(document.pk))
    assert event.actor == manager and event.details["reason"] == fingerprint("Published in error.")


def test_lifecycle_routes_answer_404_to_everyone_else(
    client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    from knowledge.services import document_archive

    fees = add_document(collections["products-fees"], "Card policy", POLICY)
    archived = add_document(collections["products-fees"], "Old card policy", POLICY)
    document_archive(actor=None, document=archived)
    secret = add_document(collections["compliance-aml"], "SAR", "Suspicious activity.")
    cases = [
        (role, document.pk)
        for role in ("agent", "supervisor", "compliance")  # read products-fees, do not manage
        for document in (fees, archived)
    ] + [("content_manager", secret.pk), ("content_manager", 999999)]
    for role, pk in cases:
        client.force_login(role_users[role])
        assert client.get(reverse("knowledge:document_delete", args=[pk])).status_code == 404
        for name in ("document_archive", "document_restore", "document_delete"):
            response = client.post(reverse(f"knowledge:{name}", args=[pk]))
            assert response.status_code == 404, (role, pk, name)
        html = _html(client.get(reverse("knowledge:document_detail", args=[pk])))
        assert reverse("knowledge:document_archive", args=[pk]) not in html
    for role in ("agent", "supervisor", "compliance"):  # an archived document: as missing
        client.force_login(role_users[role])
        detail = reverse("knowledge:document_detail", args=[archived.pk])
        assert client.get(detail).status_code == 404
        filtered = client.get(reverse("knowledge:document_list"), {"archived": "true"})
        assert archived not in filtered.context["documents"]
        # The filter is offered to those who manage some collection (compliance: its own).
        offered = "archived" in filtered.context["filter_form"].fields
        assert offered == (role == "compliance"), role
    assert Document.objects.filter(pk__in=[fees.pk, archived.pk, secret.pk]).count() == 3
    fees.refresh_from_db()
    assert fees.archived_at is None
    assert not AuditEvent.objects.filter(action__in=["document.restored", "document.deleted"])


def test_lifecycle_forms_need_the_csrf_token(
    role_users: dict[str, Any],
    collections: dict[str, Any],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    client = Client(enforce_csrf_checks=True)
    client.force_login(role_users["content_manager"])
    for name in ("document_archive", "document_delete"):
        assert client.post(reverse(f"knowledge:{name}", args=[document.pk])).status_code == 403
    document.refresh_from_db()
    assert document.archived_at is None
