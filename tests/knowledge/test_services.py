"""Document lifecycle services: archive, restore and delete (files, chunks, audit); who may
create a collection they would not manage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile

from knowledge.models import Chunk, Collection, Document, DocumentVersion, Posting
from knowledge.services import (
    ARCHIVED_NO_NEW_VERSION,
    collection_create,
    document_archive,
    document_delete,
    document_replace_file,
    document_reprocess,
    document_restore,
)
from portal.audit import fingerprint
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

POLICY = "# Card policy\n\nA lost card is blocked at once.\n\n## Fees\n\nReplacement costs 10."


def _storage() -> Any:
    return Document._meta.get_field("file").storage


def _postings(document: Document) -> int:
    return Posting.objects.filter(chunk__document=document).count()


def test_archive_keeps_the_chunks_out_of_search_and_restore_brings_them_back(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    manager = role_users["content_manager"]
    chunks = set(Chunk.objects.filter(document=document).values_list("pk", "embedding_model"))
    postings = _postings(document)
    assert chunks and postings

    archived = document_archive(actor=manager, document=document, reason="Superseded by v2026.")
    archived.refresh_from_db()
    assert archived.archived_at is not None and archived.archived_by == manager
    assert archived.archive_reason == "Superseded by v2026."
    # Kept for the records (same rows, same vectors), but in no collection and unindexed.
    kept = Chunk.objects.filter(document=document)
    assert set(kept.values_list("pk", "embedding_model")) == chunks
    assert set(kept.values_list("collection_id", flat=True)) == {None}
    assert _postings(document) == 0
    assert DocumentVersion.objects.filter(document=document).count() == 1
    assert _storage().exists(document.file.name)
    event = AuditEvent.objects.get(action="document.archived", target_id=str(document.pk))
    assert event.actor == manager
    assert event.details["title"] == "Card policy"
    assert event.details["collection"] == "products-fees"
    # the manager's words are kept as a fingerprint only (portal.audit), like other typed text
    assert event.details["reason"] == fingerprint("Superseded by v2026.")

    with pytest.raises(ValidationError, match="already archived"):
        document_archive(actor=manager, document=document)

    restored = document_restore(actor=manager, document=document)
    assert (restored.archived_at, restored.archived_by, restored.archive_reason) == (None, None, "")
    kept = Chunk.objects.filter(document=document)
    assert set(kept.values_list("pk", "embedding_model")) == chunks  # nothing re-ingested
    assert set(kept.values_list("collection_id", flat=True)) == {document.collection_id}
    assert _postings(document) == postings
    event = AuditEvent.objects.get(action="document.restored", target_id=str(document.pk))
    assert event.details["archived_by"] == manager.username

    with pytest.raises(ValidationError, match="not archived"):
        document_restore(actor=manager, document=document)


def test_an_archived_document_takes_no_new_version_until_restored(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    manager = role_users["content_manager"]
    document_archive(actor=manager, document=document)
    upload = ContentFile(b"# Card policy\n\nNew text.", name="v2.md")
    with pytest.raises(ValidationError) as refused:
        document_replace_file(actor=manager, document=document, file=upload)
    assert refused.value.message_dict == {"file": [ARCHIVED_NO_NEW_VERSION]}
    with pytest.raises(ValidationError, match="Restore it before reprocessing"):
        document_reprocess(actor=manager, document=document)
    document.refresh_from_db()
    assert document.version == 1 and document.versions.count() == 1

    document_restore(actor=manager, document=document)
    replaced = document_replace_file(actor=manager, document=document, file=upload)
    assert replaced.version == 2


def test_delete_removes_every_versions_file_the_chunks_and_is_audited(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    manager = role_users["content_manager"]
    document = document_replace_file(
        actor=manager,
        document=document,
        file=ContentFile(b"# Card policy\n\nReplacement costs 12.", name="v2.md"),
        enqueue=False,
    )
    names = set(DocumentVersion.objects.filter(document=document).values_list("file", flat=True))
    assert len(names) == 2 and all(_storage().exists(name) for name in names)
    chunk_ids = list(Chunk.objects.filter(document=document).values_list("pk", flat=True))
    assert chunk_ids and _postings(document)
    sha256s = dict(
        DocumentVersion.objects.filter(document=document).values_list("number", "sha256")
    )

    with django_capture_on_commit_callbacks(execute=True):
        document_delete(actor=manager, document=document, reason="Published in error.")

    assert not Document.objects.filter(pk=document.pk).exists()
    assert not DocumentVersion.objects.filter(document_id=document.pk).exists()
    assert not Chunk.objects.filter(pk__in=chunk_ids).exists()
    assert not Posting.objects.filter(chunk_id__in=chunk_ids).exists()
    assert not any(_storage().exists(name) for name in names)
    event = AuditEvent.objects.get(action="document.deleted", target_id=str(document.pk))
    assert event.actor == manager
    assert event.target_type == "knowledge.document"
    assert event.details["title"] == "Card policy"
    assert event.details["collection"] == "products-fees"
    assert event.details["sha256"] == sha256s[2]
    assert event.details["versions"] == [
        {"number": 1, "sha256": sha256s[1]},
        {"number": 2, "sha256": sha256s[2]},
    ]
    assert event.details["reason"] == fingerprint("Published in error.")
    assert event.details["files"] == 2


def test_files_are_deleted_only_once_the_delete_commits(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    django_capture_on_commit_callbacks: Any,
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        document_delete(actor=None, document=document)
    assert callbacks  # the files go only once the delete commits
    assert _storage().exists(document.file.name)


def test_an_archived_document_can_be_deleted(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    document_archive(actor=role_users["admin"], document=document)
    document_delete(actor=role_users["admin"], document=document)
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    event = AuditEvent.objects.get(action="document.deleted", target_id=str(document.pk))
    assert event.details["archived"] is True


@pytest.mark.parametrize("role", ["agent", "supervisor", "compliance", "integration"])
def test_only_those_who_manage_the_collection_archive_restore_or_delete(
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    role_users: dict[str, Any],
    role: str,
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    user = role_users[role]
    for service in (document_archive, document_delete):
        with pytest.raises(PermissionDenied):
            service(actor=user, document=document)
    document_archive(actor=role_users["content_manager"], document=document)
    with pytest.raises(PermissionDenied):
        document_restore(actor=user, document=document)
    document.refresh_from_db()
    assert document.archived_at is not None
    assert not AuditEvent.objects.filter(action__in=["document.restored", "document.deleted"])


def test_reason_is_bounded(
    collections: dict[str, Collection], add_document: Callable[..., Document]
) -> None:
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    with pytest.raises(ValidationError) as refused:
        document_archive(actor=None, document=document, reason="x" * 1001)
    assert "reason" in refused.value.message_dict
    document.refresh_from_db()
    assert document.archived_at is None


# Creating a collection one would not manage ---------------------------------------------


def test_content_manager_may_not_create_a_collection_it_would_not_manage(
    role_users: dict[str, Any], regions: dict[str, Any]
) -> None:
    manager = role_users["content_manager"]
    for manage_roles in ([], ["compliance"]):
        with pytest.raises(ValidationError) as refused:
            collection_create(
                actor=manager,
                slug="aml-2",
                name="AML",
                read_roles=["compliance"],
                manage_roles=manage_roles,
            )
        assert list(refused.value.message_dict) == ["manage_roles"]
    # Its own role in the manage roles, but a region it does not serve: locked out as well.
    with pytest.raises(ValidationError) as refused:
        collection_create(
            actor=manager,
            slug="north-notes",
            name="North notes",
            manage_roles=["content_manager"],
            read_regions=[regions["north"]],
        )
    assert list(refused.value.message_dict) == ["read_regions"]
    assert not Collection.objects.filter(slug__in=["aml-2", "north-notes"]).exists()
    assert not AuditEvent.objects.filter(action="collection.created", actor=manager)

    created = collection_create(
        actor=manager, slug="cards", name="Cards", read_roles=[], manage_roles=["content_manager"]
    )
    assert created.pk


def test_admin_may_create_a_collection_for_other_roles(role_users: dict[str, Any]) -> None:
    created = collection_create(
        actor=role_users["admin"],
        slug="aml-2",
        name="AML",
        read_roles=["compliance"],
        manage_roles=["compliance"],
    )
    assert created.manage_roles == ["compliance"]
