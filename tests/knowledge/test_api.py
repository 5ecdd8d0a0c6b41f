"""The knowledge API: collections, documents, reprocess, search; one error shape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from knowledge.models import Collection, Document, DocumentStatus
from portal.models import AuditEvent
from portal.services import api_token_create
from tests.knowledge.canaries import EXPECTED, add_canaries, canary_word

pytestmark = pytest.mark.django_db

NOT_AVAILABLE = "This collection does not exist or you may not add documents to it."


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _md(name: str = "note.md", text: bytes = b"# Note\n\nSome text.") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text, content_type="text/markdown")


def _assert_validation_error(response: Any, *fields: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert body["message"] == "Validation error"
    assert set(fields) <= set(body["extra"]["fields"]), body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/collections/"),
        ("post", "/api/v1/collections/"),
        ("get", "/api/v1/documents/"),
        ("post", "/api/v1/documents/"),
        ("get", "/api/v1/documents/1/"),
        ("post", "/api/v1/documents/1/reprocess/"),
        ("get", "/api/v1/search/?q=fees"),
    ],
)
def test_anonymous_gets_401(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


def test_collections_list(role_users: dict[str, Any], collections: dict[str, Collection]) -> None:
    data = _client(role_users["agent"]).get("/api/v1/collections/").json()
    assert [c["slug"] for c in data] == ["fraud-disputes", "customer-help", "products-fees"]
    fees = next(c for c in data if c["slug"] == "products-fees")
    assert set(fees) == {
        "id",
        "slug",
        "name",
        "description",
        "sensitivity",
        "read_roles",
        "manage_roles",
        "document_count",
        "manageable",
    }
    assert fees["manageable"] is False
    assert fees["document_count"] == 0

    managed = _client(role_users["content_manager"]).get("/api/v1/collections/").json()
    assert {c["slug"]: c["manageable"] for c in managed} == {
        "fraud-disputes": True,
        "products-fees": True,
        "customer-help": True,
    }
    assert _client(role_users["integration"]).get("/api/v1/collections/").json() == []


def test_taken_slugs_do_not_reveal_hidden_collections(
    role_users: dict[str, Any], collections: dict[str, Collection]
) -> None:
    manager = _client(role_users["content_manager"])
    visible = {c["slug"] for c in manager.get("/api/v1/collections/").json()}
    assert "products-fees" in visible and "compliance-aml" not in visible
    body = {"name": "Copy", "read_roles": ["agent"], "manage_roles": ["content_manager"]}
    answers = [
        manager.post("/api/v1/collections/", {**body, "slug": slug}, format="json")
        for slug in ("products-fees", "compliance-aml")
    ]
    # The same answer for a collection the manager sees and one they may not know exists.
    assert [a.status_code for a in answers] == [400, 400]
    assert (
        answers[0].json()
        == answers[1].json()
        == {
            "message": "Validation error",
            "extra": {"fields": {"slug": ["This slug is not available."]}},
        }
    )
    assert Collection.objects.filter(name="Copy").count() == 0


def test_collection_create(role_users: dict[str, Any], collections: dict[str, Collection]) -> None:
    body = {
        "slug": "mortgages",
        "name": "Mortgages",
        "description": "Mortgage products.",
        "sensitivity": "internal",
        "read_roles": ["agent", "supervisor"],
        "manage_roles": ["content_manager"],
    }
    response = _client(role_users["content_manager"]).post(
        "/api/v1/collections/", body, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["slug"] == "mortgages"
    assert data["read_roles"] == ["agent", "supervisor"]
    assert data["manageable"] is True
    assert AuditEvent.objects.filter(action="collection.created").count() >= 1

    denied = _client(role_users["agent"]).post(
        "/api/v1/collections/", {**body, "slug": "other"}, format="json"
    )
    assert denied.status_code == 403
    assert denied.json() == {"message": "Your role may not create collections.", "extra": {}}
    assert not Collection.objects.filter(slug="other").exists()

    manager = _client(role_users["content_manager"])
    _assert_validation_error(
        manager.post("/api/v1/collections/", {"name": "No slug"}, format="json"), "slug"
    )
    _assert_validation_error(manager.post("/api/v1/collections/", body, format="json"), "slug")
    _assert_validation_error(
        manager.post(
            "/api/v1/collections/",
            {**body, "slug": "bad-roles", "read_roles": ["wizard"]},
            format="json",
        ),
        "read_roles",
    )


def test_document_list_and_detail(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    fees = add_document(collections["products-fees"], "Fees", "Card fees are low.")
    add_document(collections["fraud-disputes"], "Disputes", "Dispute within 120 days.")
    secret = add_document(collections["compliance-aml"], "SAR", "Suspicious activity.")
    agent = _client(role_users["agent"])

    page = agent.get("/api/v1/documents/").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 2
    assert {d["title"] for d in page["results"]} == {"Fees", "Disputes"}
    only_fees = agent.get("/api/v1/documents/", {"collection": "products-fees"}).json()
    assert [d["title"] for d in only_fees["results"]] == ["Fees"]
    by_id = agent.get("/api/v1/documents/", {"collection": collections["fraud-disputes"].pk}).json()
    assert [d["title"] for d in by_id["results"]] == ["Disputes"]
    assert agent.get("/api/v1/documents/", {"status": "failed"}).json()["count"] == 0
    assert agent.get("/api/v1/documents/", {"collection": "compliance-aml"}).json()["count"] == 0
    _assert_validation_error(agent.get("/api/v1/documents/", {"status": "bogus"}), "status")

    detail = agent.get(f"/api/v1/documents/{fees.pk}/")
    assert detail.status_code == 200
    data = detail.json()
    assert data["collection"] == "products-fees"
    assert data["status"] == "ready"
    assert data["version"] == data["live_version"] == 1
    assert data["chunk_count"] >= 1
    assert data["content_type"] == "text/markdown"
    assert len(data["sha256"]) == 64
    assert [v["number"] for v in data["versions"]] == [1]
    assert set(data["versions"][0]) == {"number", "status", "error", "sha256", "created_at"}

    hidden = agent.get(f"/api/v1/documents/{secret.pk}/")
    missing = agent.get(f"/api/v1/documents/{secret.pk + 1000}/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json() == {"message": "No such document.", "extra": {}}


def test_an_upload_over_the_limit_says_the_limit_like_the_docs(
    role_users: dict[str, Any], collections: dict[str, Collection], settings: Any
) -> None:
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1536
    response = _client(role_users["content_manager"]).post(
        "/api/v1/documents/",
        {"collection": "fraud-disputes", "title": "Big", "file": _md(text=b"x" * 3072)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "failed"
    assert data["error"] == "The file is 3 KB; the limit is 1.5 KB."


def test_document_upload(role_users: dict[str, Any], collections: dict[str, Collection]) -> None:
    manager = _client(role_users["content_manager"])
    response = manager.post(
        "/api/v1/documents/",
        {
            "collection": "fraud-disputes",
            "title": "Chargebacks",
            "file": _md(),
            "source_url": "https://intranet.example/chargebacks",
            "effective_date": "2026-02-01",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "pending"  # the task runs after commit
    assert data["collection"] == "fraud-disputes"
    assert data["effective_date"] == "2026-02-01"
    assert data["versions"][0]["number"] == 1
    document = Document.objects.get(pk=data["id"])
    assert document.uploaded_by == role_users["content_manager"]

    by_id = manager.post(
        "/api/v1/documents/",
        {"collection": str(collections["products-fees"].pk), "title": "By id", "file": _md()},
        format="multipart",
    )
    assert by_id.status_code == 201
    assert by_id.json()["collection"] == "products-fees"

    fake = manager.post(
        "/api/v1/documents/",
        {
            "collection": "products-fees",
            "title": "Fake",
            "file": SimpleUploadedFile("x.pdf", b"plain text", content_type="application/pdf"),
        },
        format="multipart",
    )
    assert fake.status_code == 201
    assert fake.json()["status"] == "failed"
    assert "PDF" in fake.json()["error"]

    _assert_validation_error(
        manager.post("/api/v1/documents/", {"collection": "products-fees"}, format="multipart"),
        "title",
    )
    # Neither a file nor a source URL: nothing to ingest.
    _assert_validation_error(
        manager.post(
            "/api/v1/documents/", {"collection": "products-fees", "title": "T"}, format="multipart"
        ),
        "file",
    )


def test_unreadable_collection_answers_like_a_missing_one(
    role_users: dict[str, Any], collections: dict[str, Collection]
) -> None:
    manager = _client(role_users["content_manager"])

    def upload(client: APIClient, collection: str) -> Any:
        return client.post(
            "/api/v1/documents/",
            {"collection": collection, "title": "T", "file": _md()},
            format="multipart",
        )

    missing = upload(manager, "no-such-collection")
    unreadable = upload(manager, "compliance-aml")
    unreadable_by_id = upload(manager, str(collections["internal-hr"].pk))
    readable_not_managed = upload(_client(role_users["agent"]), "products-fees")
    for response in (missing, unreadable, unreadable_by_id, readable_not_managed):
        _assert_validation_error(response, "collection")
        assert response.json()["extra"]["fields"]["collection"] == [NOT_AVAILABLE]
    assert missing.json() == unreadable.json() == readable_not_managed.json()
    assert not Document.objects.exists()


def test_document_reprocess(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    disputes = add_document(collections["fraud-disputes"], "Disputes", "Dispute rules.")
    secret = add_document(collections["compliance-aml"], "SAR", "Suspicious activity.")
    manager = _client(role_users["content_manager"])
    response = manager.post(f"/api/v1/documents/{disputes.pk}/reprocess/")
    assert response.status_code == 202
    assert response.json() == {"status": "pending"}
    disputes.refresh_from_db()
    assert disputes.status == DocumentStatus.PENDING

    agent = _client(role_users["agent"])
    forbidden = agent.post(f"/api/v1/documents/{disputes.pk}/reprocess/")
    assert forbidden.status_code == 403
    assert set(forbidden.json()) == {"message", "extra"}
    assert agent.post(f"/api/v1/documents/{secret.pk}/reprocess/").status_code == 404
    assert manager.post(f"/api/v1/documents/{secret.pk}/reprocess/").status_code == 404

    no_file = Document.objects.create(collection=collections["fraud-disputes"], title="Empty")
    _assert_validation_error(manager.post(f"/api/v1/documents/{no_file.pk}/reprocess/"), "errors")


def test_search(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    fees = add_document(
        collections["products-fees"], "Fees", "# Cards\n\nThe replacement card fee is 5 EUR."
    )
    add_document(collections["fraud-disputes"], "Disputes", "A card dispute takes 10 days.")
    agent = _client(role_users["agent"])
    response = agent.get("/api/v1/search/", {"q": "replacement card fee", "k": 5})
    assert response.status_code == 200
    data = response.json()
    assert data["query"] == "replacement card fee"
    assert data["mode"] == "hybrid"
    assert data["model_mismatch"] is False
    top = data["results"][0]
    assert set(top) == {
        "chunk_id",
        "document_id",
        "document_title",
        "collection",
        "version",
        "ordinal",
        "page",
        "heading_path",
        "snippet_html",
        "text",
        "score",
        "dense_rank",
        "keyword_rank",
    }
    assert top["document_id"] == fees.pk
    assert top["collection"] == "products-fees"
    assert "<mark>" in top["snippet_html"]

    both = agent.get(
        "/api/v1/search/?q=card&mode=keyword&collection=products-fees&collection=fraud-disputes"
    ).json()
    assert {r["collection"] for r in both["results"]} == {"products-fees", "fraud-disputes"}
    one = agent.get("/api/v1/search/?q=card&mode=keyword&collection=fraud-disputes").json()
    assert {r["collection"] for r in one["results"]} == {"fraud-disputes"}

    _assert_validation_error(agent.get("/api/v1/search/"), "q")
    _assert_validation_error(agent.get("/api/v1/search/", {"q": "fees", "k": 0}), "k")
    _assert_validation_error(agent.get("/api/v1/search/", {"q": "fees", "mode": "magic"}), "mode")
    _assert_validation_error(agent.get("/api/v1/search/", {"q": "x" * 1001}), "q")
    _assert_validation_error(agent.get("/api/v1/search/", {"q": "   "}), "q")


def test_canaries_through_the_api(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    add_canaries(collections, add_document)
    query = " ".join(canary_word(slug) for slug in collections)
    for role, expected in EXPECTED.items():
        client = _client(role_users[role])
        data = client.get("/api/v1/search/", {"q": query, "mode": "keyword"}).json()
        assert {r["collection"] for r in data["results"]} == expected, role
        for slug in collections:
            one = client.get("/api/v1/search/", {"q": canary_word(slug), "mode": "keyword"}).json()
            assert len(one["results"]) == (1 if slug in expected else 0), (role, slug)


def test_integration_token_searches_nothing_it_may_not_read(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    add_canaries(collections, add_document)
    _, key = api_token_create(user=role_users["integration"], name="crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/v1/search/", {"q": canary_word("products-fees")})
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert client.get("/api/v1/documents/").json()["count"] == 0


def test_schema_documents_the_endpoints_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in (
        "/api/v1/collections/",
        "/api/v1/documents/",
        "/api/v1/documents/{id}/",
        "/api/v1/documents/{id}/reprocess/",
        "/api/v1/search/",
    ):
        assert f"{path}:" in schema, path


@pytest.mark.parametrize("key", ["²", "١٢", "1" * 30, "9" * 5000])
def test_collection_ids_in_unicode_digits_are_not_ids(
    role_users: dict[str, Any], collections: dict[str, Collection], key: str
) -> None:
    """Pen test: ``"²".isdigit()`` is True and ``int("²")`` fails: it answered 500."""
    agent = _client(role_users["agent"])
    documents = agent.get("/api/v1/documents/", {"collection": key})
    assert documents.status_code == 200 and documents.json()["count"] == 0
    search = agent.get("/api/v1/search/", {"q": "fee", "collection": key, "mode": "keyword"})
    if len(key) > 64:  # longer than a slug may be
        _assert_validation_error(search, "collection")
    else:
        assert search.status_code == 200 and search.json()["results"] == []
    upload = _client(role_users["content_manager"]).post(
        "/api/v1/documents/", {"collection": key, "title": "T", "file": _md()}, format="multipart"
    )
    _assert_validation_error(upload, "collection")
    if len(key) <= 64:
        assert upload.json()["extra"]["fields"]["collection"] == [NOT_AVAILABLE]


def test_an_uploaded_document_without_source_url_is_what_the_schema_says(
    role_users: dict[str, Any], collections: dict[str, Collection]
) -> None:
    """Found by the API fuzzer: an uploaded file's `source_url` is "", which the schema's
    `format: uri` refused (the field is read-only, so the model's blank=True was lost)."""
    client = _client(role_users["content_manager"])
    created = client.post(
        "/api/v1/documents/",
        {"collection": "products-fees", "title": "Note", "file": _md()},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    assert created.json()["source_url"] == ""
    schema = client.get("/api/schema/?format=json").json()
    for component in ("Document", "DocumentDetail"):
        source_url = schema["components"]["schemas"][component]["properties"]["source_url"]
        assert {"type": "string", "maxLength": 0} in source_url["oneOf"], component


def test_a_large_upload_is_spooled_encrypted_and_stored_whole(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above FILE_UPLOAD_MAX_MEMORY_SIZE Django spools an upload to disk: the portal's
    handler spools it encrypted (portal/uploads.py), and the stored document is the file."""
    from portal import uploads

    spools: list[uploads.EncryptedSpool] = []
    original = uploads.EncryptedSpool.__init__

    def counted(self: uploads.EncryptedSpool, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        spools.append(self)

    monkeypatch.setattr(uploads.EncryptedSpool, "__init__", counted)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    text = b"# Chargebacks\n\n" + b"A card dispute is raised within 120 days.\n" * 800
    response = _client(role_users["content_manager"]).post(
        "/api/v1/documents/",
        {"collection": "fraud-disputes", "title": "Large", "file": _md("large.md", text)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert len(spools) == 1  # spooled to disk, encrypted: larger than 1 KB
    version = Document.objects.get(pk=response.json()["id"]).versions.get()
    with version.file.open("rb") as stored:
        assert stored.read() == text
