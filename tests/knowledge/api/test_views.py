"""The knowledge API: creating a collection one would not read, and the document lifecycle
(archive, restore, delete)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from knowledge.models import Chunk, Collection, Document
from portal.audit import fingerprint
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

POLICY = "# Card policy\n\nThe zqcardpolicy replacement fee is 10 euros."
NOT_FOUND = {"message": "No such document.", "extra": {}}


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _finds(client: APIClient, document: Document) -> bool:
    response = client.get("/api/v1/search/", {"q": "zqcardpolicy", "mode": "keyword"})
    assert response.status_code == 200, response.content
    return any(hit["document_id"] == document.pk for hit in response.json()["results"])


# Creating a collection the creator may not read (it answered 500) -------------------------

AML = {"name": "AML 2", "read_roles": ["compliance"], "manage_roles": ["compliance"]}


@pytest.mark.parametrize(
    "body",
    [
        {**AML, "slug": "aml-2"},  # read and managed by another role only
        {"slug": "cards", "name": "Cards", "read_roles": ["agent"]},  # managed by no one
    ],
)
def test_content_manager_creating_a_collection_it_would_not_manage_gets_400(
    role_users: dict[str, Any], collections: dict[str, Collection], body: dict[str, Any]
) -> None:
    response = _client(role_users["content_manager"]).post(
        "/api/v1/collections/", body, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json() == {
        "message": "Validation error",
        "extra": {
            "fields": {
                "manage_roles": [
                    "Include one of your roles: only an administrator may create a collection "
                    "that you would not manage (you could neither see nor change it afterwards)."
                ]
            }
        },
    }
    assert not Collection.objects.filter(slug=body["slug"]).exists()
    assert not AuditEvent.objects.filter(
        action="collection.created", actor=role_users["content_manager"]
    )


def test_admin_creating_a_collection_for_other_roles_gets_201_with_what_it_created(
    role_users: dict[str, Any], collections: dict[str, Collection]
) -> None:
    admin = _client(role_users["admin"])
    response = admin.post("/api/v1/collections/", {**AML, "slug": "aml-2"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    created = Collection.objects.get(slug="aml-2")
    assert data == {
        "id": created.pk,
        "slug": "aml-2",
        "name": "AML 2",
        "description": "",
        "sensitivity": "internal",
        "read_roles": ["compliance"],
        "manage_roles": ["compliance"],
        "document_count": 0,
        "manageable": False,
    }
    # It decided who reads it, itself not included: it is not among the readable ones.
    assert "aml-2" not in {c["slug"] for c in admin.get("/api/v1/collections/").json()}
    assert "aml-2" in {
        c["slug"] for c in _client(role_users["compliance"]).get("/api/v1/collections/").json()
    }

    own = admin.post(
        "/api/v1/collections/",
        {**AML, "slug": "aml-3", "manage_roles": ["admin", "compliance"]},
        format="json",
    )
    assert own.status_code == 201 and own.json()["manageable"] is True


# The lifecycle ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/documents/1/archive/"),
        ("post", "/api/v1/documents/1/restore/"),
        ("delete", "/api/v1/documents/1/"),
    ],
)
def test_anonymous_gets_401(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


def test_archive_restore_and_delete(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    django_capture_on_commit_callbacks: Any,
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    manager, agent = _client(role_users["content_manager"]), _client(role_users["agent"])
    assert _finds(agent, document)

    response = manager.post(
        f"/api/v1/documents/{document.pk}/archive/", {"reason": "Superseded."}, format="json"
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["id"] == document.pk and data["archived_at"]
    assert data["archived_by"] == role_users["content_manager"].username
    assert data["archive_reason"] == "Superseded."
    assert not _finds(agent, document) and not _finds(manager, document)
    assert agent.get(f"/api/v1/documents/{document.pk}/").json() == NOT_FOUND
    assert agent.get("/api/v1/documents/").json()["count"] == 0
    assert manager.get("/api/v1/documents/").json()["count"] == 0
    archived = manager.get("/api/v1/documents/", {"archived": "true"}).json()
    assert [d["id"] for d in archived["results"]] == [document.pk]
    assert agent.get("/api/v1/documents/", {"archived": "true"}).json()["count"] == 0
    assert manager.get(f"/api/v1/documents/{document.pk}/").json()["archived_at"]

    again = manager.post(f"/api/v1/documents/{document.pk}/archive/")
    assert again.status_code == 400
    assert again.json() == {
        "message": "Validation error",
        "extra": {"fields": {"errors": ["This document is already archived."]}},
    }

    restored = manager.post(f"/api/v1/documents/{document.pk}/restore/")
    assert restored.status_code == 200, restored.content
    assert restored.json()["archived_at"] is None and restored.json()["archived_by"] is None
    assert _finds(agent, document)
    assert manager.post(f"/api/v1/documents/{document.pk}/restore/").status_code == 400

    storage = Document._meta.get_field("file").storage
    with django_capture_on_commit_callbacks(execute=True):
        deleted = manager.delete(f"/api/v1/documents/{document.pk}/?reason=Published+in+error")
    assert deleted.status_code == 204 and not deleted.content
    assert manager.get(f"/api/v1/documents/{document.pk}/").json() == NOT_FOUND
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert not storage.exists(document.file.name)
    event = AuditEvent.objects.get(action="document.deleted", target_id=str(document.pk))
    assert event.details["reason"] == fingerprint("Published in error")
    assert event.details["title"] == "Card policy"


def test_lifecycle_answers_404_to_everyone_who_does_not_manage_the_document(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    from knowledge.services import document_archive

    fees = add_document(collections["products-fees"], "Card policy", POLICY)
    archived = add_document(collections["products-fees"], "Old card policy", POLICY)
    document_archive(actor=None, document=archived)
    secret = add_document(collections["compliance-aml"], "SAR", "Suspicious activity.")
    cases = [
        (role, document.pk)
        for role in ("agent", "supervisor", "compliance", "integration")
        for document in (fees, archived)
    ] + [("content_manager", secret.pk), ("content_manager", 999999)]
    for role, pk in cases:
        client = _client(role_users[role])
        for method, path in (
            ("post", f"/api/v1/documents/{pk}/archive/"),
            ("post", f"/api/v1/documents/{pk}/restore/"),
            ("delete", f"/api/v1/documents/{pk}/"),
        ):
            response = getattr(client, method)(path)
            assert response.status_code == 404, (role, pk, method, path)
            assert response.json() == NOT_FOUND
    assert Document.objects.filter(pk__in=[fees.pk, archived.pk, secret.pk]).count() == 3
    assert not AuditEvent.objects.filter(
        action__in=["document.archived", "document.restored", "document.deleted"],
        actor__isnull=False,
    )


def test_a_reason_over_the_limit_is_400(
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    manager = _client(role_users["content_manager"])
    long = "x" * 1001
    archive = manager.post(f"/api/v1/documents/{document.pk}/archive/", {"reason": long})
    delete = manager.delete(f"/api/v1/documents/{document.pk}/?reason={long}")
    for response in (archive, delete):
        assert response.status_code == 400
        assert "reason" in response.json()["extra"]["fields"]
    document.refresh_from_db()
    assert document.archived_at is None


def test_schema_documents_the_lifecycle(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in ("/api/v1/documents/{id}/archive/:", "/api/v1/documents/{id}/restore/:"):
        assert path in schema, path
    detail = schema.split("/api/v1/documents/{id}/:", 1)[1].split("\n  /api/", 1)[0]
    assert "    delete:" in detail and "'204':" in detail and "name: reason" in detail
