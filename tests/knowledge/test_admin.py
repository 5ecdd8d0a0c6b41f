"""Admin: collections with role checkboxes, documents through the services, chunks read-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from knowledge.models import Chunk, Collection, Document, DocumentStatus
from portal.models import AuditEvent
from portal.permissions import Role

pytestmark = pytest.mark.django_db


def _versions_management(document: Document | None = None) -> dict[str, Any]:
    """The read-only versions inline still posts its management form."""
    versions = list(document.versions.all()) if document else []
    data: dict[str, Any] = {
        "versions-TOTAL_FORMS": len(versions),
        "versions-INITIAL_FORMS": len(versions),
        "versions-MIN_NUM_FORMS": 0,
        "versions-MAX_NUM_FORMS": 1000,
    }
    for i, version in enumerate(versions):
        data[f"versions-{i}-id"] = version.pk
        data[f"versions-{i}-document"] = document.pk if document else ""
    return data


@pytest.fixture
def admin_client(client: Client, role_users: dict[str, Any]) -> Client:
    client.force_login(role_users["admin"])
    return client


def test_changelists_and_change_pages_load(
    admin_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Fees", "Card fees are low.")
    chunk = Chunk.objects.filter(document=document).first()
    assert chunk is not None
    for url in (
        reverse("admin:knowledge_collection_changelist"),
        reverse("admin:knowledge_document_changelist"),
        reverse("admin:knowledge_chunk_changelist"),
        reverse("admin:knowledge_collection_add"),
        reverse("admin:knowledge_document_add"),
        reverse("admin:knowledge_collection_change", args=[collections["products-fees"].pk]),
        reverse("admin:knowledge_document_change", args=[document.pk]),
        reverse("admin:knowledge_chunk_change", args=[chunk.pk]),
        reverse("admin:knowledge_document_changelist") + "?q=Fees&status__exact=ready",
        reverse("admin:knowledge_chunk_changelist") + "?q=card",
    ):
        assert admin_client.get(url).status_code == 200, url
    html = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "Reprocess selected documents" in html
    assert "Card fees are low." in (
        admin_client.get(reverse("admin:knowledge_chunk_change", args=[chunk.pk])).content.decode()
    )


def test_non_staff_cannot_open_the_admin(client: Client, role_users: dict[str, Any]) -> None:
    client.force_login(role_users["content_manager"])
    response = client.get(reverse("admin:knowledge_document_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_collection_roles_are_checkboxes_saved_as_lists(
    admin_client: Client, regions: dict[str, Any]
) -> None:
    page = admin_client.get(reverse("admin:knowledge_collection_add")).content.decode()
    assert 'type="checkbox" name="read_roles" value="agent"' in page
    response = admin_client.post(
        reverse("admin:knowledge_collection_add"),
        {
            "slug": "cards",
            "name": "Cards",
            "description": "",
            "sensitivity": "internal",
            "read_roles": ["supervisor", "agent"],
            "manage_roles": ["content_manager"],
            "read_regions": [regions["north"].pk],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    collection = Collection.objects.get(slug="cards")
    assert collection.read_roles == ["agent", "supervisor"]
    assert collection.manage_roles == ["content_manager"]
    assert list(collection.read_regions.all()) == [regions["north"]]

    bad = admin_client.post(
        reverse("admin:knowledge_collection_add"),
        {"slug": "bad", "name": "Bad", "sensitivity": "internal", "read_roles": ["wizard"]},
    )
    assert bad.status_code == 200
    assert not Collection.objects.filter(slug="bad").exists()


def test_admin_add_document_goes_through_the_service(
    admin_client: Client, role_users: dict[str, Any], collections: dict[str, Collection]
) -> None:
    page = admin_client.get(reverse("admin:knowledge_document_add")).content.decode()
    # Only collections the admin manages are offered.
    assert "Internal HR" in page and "Fraud &amp; disputes" not in page
    response = admin_client.post(
        reverse("admin:knowledge_document_add"),
        {
            "collection": collections["products-fees"].pk,
            "title": "Overdrafts",
            "file": SimpleUploadedFile(
                "overdrafts.md", b"# Overdrafts\n\nRate 19.9%.", content_type="text/markdown"
            ),
            "source_url": "",
            "effective_date": "",
            **_versions_management(),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    document = Document.objects.get(title="Overdrafts")
    assert document.status == DocumentStatus.PENDING
    assert document.uploaded_by == role_users["admin"]
    assert document.versions.count() == 1
    assert document.sha256
    assert AuditEvent.objects.filter(
        action="document.created", target_id=str(document.pk), actor=role_users["admin"]
    ).exists()

    missing_file = admin_client.post(
        reverse("admin:knowledge_document_add"),
        {
            "collection": collections["products-fees"].pk,
            "title": "No file",
            **_versions_management(),
        },
    )
    assert missing_file.status_code == 200
    assert not Document.objects.filter(title="No file").exists()

    fake = admin_client.post(
        reverse("admin:knowledge_document_add"),
        {
            "collection": collections["products-fees"].pk,
            "title": "Fake",
            "file": SimpleUploadedFile("f.pdf", b"not a pdf", content_type="application/pdf"),
            **_versions_management(),
        },
        follow=True,
    )
    assert "was not accepted" in fake.content.decode()
    assert Document.objects.get(title="Fake").status == DocumentStatus.FAILED


def test_admin_change_document_replaces_the_file_through_the_service(
    admin_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Fees", "Card fees are low.")
    url = reverse("admin:knowledge_document_change", args=[document.pk])
    renamed = admin_client.post(
        url,
        {
            "title": "Card fees",
            "source_url": "https://intranet.example/fees",
            "effective_date": "2026-03-01",
            **_versions_management(document),
        },
    )
    assert renamed.status_code == 302, renamed.content.decode()[:3000]
    document.refresh_from_db()
    assert (document.title, document.version, document.status) == ("Card fees", 1, "ready")

    replaced = admin_client.post(
        url,
        {
            "title": "Card fees",
            "file": SimpleUploadedFile(
                "v2.md", b"# Fees\n\nNew fees.", content_type="text/markdown"
            ),
            "source_url": "",
            "effective_date": "",
            **_versions_management(document),
        },
    )
    assert replaced.status_code == 302, replaced.content.decode()[:3000]
    document.refresh_from_db()
    assert (document.version, document.live_version, document.status) == (2, 1, "pending")
    assert AuditEvent.objects.filter(
        action="document.replaced", target_id=str(document.pk)
    ).exists()


def test_admin_reprocess_action(
    admin_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Fees", "Card fees are low.")
    response = admin_client.post(
        reverse("admin:knowledge_document_changelist"),
        {"action": "reprocess", "_selected_action": [document.pk]},
        follow=True,
    )
    assert "Queued 1 document(s)" in response.content.decode()
    document.refresh_from_db()
    assert document.status == DocumentStatus.PENDING
    assert AuditEvent.objects.filter(
        action="document.reprocess", target_id=str(document.pk)
    ).exists()


def test_admin_lists_only_readable_documents(
    admin_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    secret = add_document(collections["compliance-aml"], "SAR procedure", "Suspicious activity.")
    html = admin_client.get(reverse("admin:knowledge_document_changelist")).content.decode()
    assert "SAR procedure" not in html
    response = admin_client.get(reverse("admin:knowledge_document_change", args=[secret.pk]))
    assert response.status_code == 302  # Django's "does not exist" redirect to the index


def test_chunk_admin_is_read_only(
    admin_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    document = add_document(collections["products-fees"], "Fees", "Card fees are low.")
    chunk = Chunk.objects.get(document=document, ordinal=0)
    assert admin_client.get(reverse("admin:knowledge_chunk_add")).status_code == 403
    change = reverse("admin:knowledge_chunk_change", args=[chunk.pk])
    html = admin_client.get(change).content.decode()
    assert 'name="embedding"' not in html and 'name="search_vector"' not in html
    assert 'type="submit" value="Save"' not in html
    assert admin_client.post(change, {"text": "tampered"}).status_code == 403
    delete = reverse("admin:knowledge_chunk_delete", args=[chunk.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    chunk.refresh_from_db()
    assert chunk.text == "Card fees are low."


@pytest.mark.django_db
def test_content_manager_works_in_the_admin(
    client: Client, make_user: Any, collections: Any
) -> None:
    """The role's model permissions come from a migration; the policy still narrows rows."""
    content = make_user("content2", Role.CONTENT_MANAGER, is_staff=True)
    client.force_login(content)
    assert client.get("/admin/knowledge/document/").status_code == 200
    assert client.get("/admin/knowledge/document/add/").status_code == 200
    assert client.get("/admin/forms_app/formdefinition/").status_code == 200
    assert client.get("/admin/customers/customer/").status_code == 403  # no customer data


# The admin applies the knowledge policy ----------------------------------------------
# Pen test finding: a content manager (staff) opened the change form of Internal HR, which
# it neither reads nor manages, and gave its own role read access (a canary document went
# from 404 to 200 on the portal); the changelist showed every collection's name and roles.

UNMANAGED = ("internal-hr", "compliance-aml")  # the content manager neither reads nor manages


@pytest.fixture
def content_client(client: Client, make_user: Any) -> Client:
    client.force_login(make_user("content_staff", Role.CONTENT_MANAGER, is_staff=True))
    return client


def _collection_form(collection: Collection, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": collection.slug,
        "name": collection.name,
        "description": collection.description,
        "sensitivity": collection.sensitivity,
        "read_roles": list(collection.read_roles),
        "manage_roles": list(collection.manage_roles),
        "read_regions": [region.pk for region in collection.read_regions.all()],
    }
    return {**data, **changes}


def _reveals(body: str, collection: Collection) -> bool:
    return escape(collection.name) in body or escape(collection.description) in body


def test_content_manager_lists_only_the_collections_it_manages(
    content_client: Client, collections: dict[str, Collection]
) -> None:
    body = content_client.get(reverse("admin:knowledge_collection_changelist")).content.decode()
    assert _reveals(body, collections["products-fees"])
    assert _reveals(body, collections["fraud-disputes"])
    for slug in UNMANAGED:
        assert not _reveals(body, collections[slug]), slug
    # Nor through the documents' collection filter, the add form or the search.
    for url in (
        reverse("admin:knowledge_document_changelist"),
        reverse("admin:knowledge_document_add"),
        reverse("admin:knowledge_chunk_changelist"),
        reverse("admin:knowledge_collection_changelist") + "?q=HR",
    ):
        body = content_client.get(url).content.decode()
        for slug in UNMANAGED:
            assert not _reveals(body, collections[slug]), (url, slug)


def test_unmanaged_collection_answers_like_a_missing_one(
    content_client: Client, collections: dict[str, Collection]
) -> None:
    missing = reverse("admin:knowledge_collection_change", args=[999999])
    expected = content_client.get(missing)
    assert expected.status_code == 302 and expected.url == reverse("admin:index")
    for slug in UNMANAGED:
        collection = collections[slug]
        for view in ("change", "history", "delete"):
            url = reverse(f"admin:knowledge_collection_{view}", args=[collection.pk])
            response = content_client.get(url, follow=True)
            assert response.redirect_chain[:1] in ([], [(reverse("admin:index"), 302)]), url
            assert response.status_code in (200, 403), url
            assert not _reveals(response.content.decode(), collection), url


def test_posting_roles_to_an_unmanaged_collection_changes_nothing(
    content_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    hr = collections["internal-hr"]
    canary = add_document(hr, "Canary internal-hr", "zqinternalhrcanary salaries", "c.txt")
    document_url = reverse("knowledge:document_detail", args=[canary.pk])
    assert content_client.get(document_url).status_code == 404
    before = (list(hr.read_roles), list(hr.manage_roles), hr.name)
    response = content_client.post(
        reverse("admin:knowledge_collection_change", args=[hr.pk]),
        _collection_form(
            hr,
            name="Mine now",
            read_roles=["admin", "content_manager"],
            manage_roles=["admin", "content_manager"],
        ),
    )
    assert response.status_code == 302 and response.url == reverse("admin:index")
    hr.refresh_from_db()
    assert (hr.read_roles, hr.manage_roles, hr.name) == before
    assert content_client.get(document_url).status_code == 404
    assert not AuditEvent.objects.filter(action__in=["admin.changed", "collection.updated"])


def test_content_manager_cannot_widen_access_to_a_collection_it_manages(
    content_client: Client, collections: dict[str, Collection]
) -> None:
    fraud = collections["fraud-disputes"]
    url = reverse("admin:knowledge_collection_change", args=[fraud.pk])
    page = content_client.get(url).content.decode()
    assert 'name="read_roles"' not in page  # who has access is shown, not editable
    response = content_client.post(
        url,
        _collection_form(
            fraud,
            description="Chargebacks.",
            read_roles=[*fraud.read_roles, "admin", "content_manager"],
            manage_roles=["admin", "content_manager"],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    fraud.refresh_from_db()
    assert fraud.description == "Chargebacks."
    assert fraud.read_roles == ["agent", "compliance", "supervisor"]
    assert fraud.manage_roles == ["content_manager"]
    assert AuditEvent.objects.filter(action="collection.updated", target_id=str(fraud.pk)).exists()


def test_collection_update_service_keeps_access_decisions_for_admins(
    role_users: dict[str, Any], collections: dict[str, Collection], regions: dict[str, Any]
) -> None:
    from django.core.exceptions import PermissionDenied, ValidationError

    from knowledge.services import collection_update

    content, admin_user = role_users["content_manager"], role_users["admin"]
    fraud, hr = collections["fraud-disputes"], collections["internal-hr"]
    with pytest.raises(PermissionDenied):
        collection_update(actor=content, collection=hr, read_roles=["content_manager"])
    for change in (
        {"read_roles": [*fraud.read_roles, "admin"]},
        {"manage_roles": ["content_manager", "admin"]},
        {"read_regions": [regions["north"]]},
    ):
        with pytest.raises(ValidationError):
            collection_update(actor=content, collection=fraud, **change)
    fraud.refresh_from_db()
    assert fraud.read_roles == ["agent", "compliance", "supervisor"]
    # Name and description are the manager's to change; admins decide who has access.
    collection_update(actor=content, collection=fraud, name="Fraud", description="x")
    collection_update(actor=admin_user, collection=hr, read_roles=["admin", "compliance"])
    hr.refresh_from_db()
    assert hr.read_roles == ["admin", "compliance"]
    with pytest.raises(PermissionDenied):  # admins too act only on what they manage
        collection_update(actor=admin_user, collection=collections["compliance-aml"], name="x")


def test_admin_changes_access_of_collections_it_manages_only(
    admin_client: Client, collections: dict[str, Collection]
) -> None:
    hr = collections["internal-hr"]
    response = admin_client.post(
        reverse("admin:knowledge_collection_change", args=[hr.pk]),
        _collection_form(hr, read_roles=["admin", "compliance"]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hr.refresh_from_db()
    assert hr.read_roles == ["admin", "compliance"]
    event = AuditEvent.objects.get(action="collection.updated", target_id=str(hr.pk))
    assert event.details["read_roles"] == ["admin", "compliance"]

    aml = collections["compliance-aml"]  # read and managed by compliance only
    response = admin_client.post(
        reverse("admin:knowledge_collection_change", args=[aml.pk]),
        _collection_form(aml, read_roles=["admin", "compliance"], manage_roles=["admin"]),
    )
    assert response.status_code == 302 and response.url == reverse("admin:index")
    aml.refresh_from_db()
    assert (aml.read_roles, aml.manage_roles) == (["compliance"], ["compliance"])
    delete = reverse("admin:knowledge_collection_delete", args=[aml.pk])
    admin_client.post(delete, {"post": "yes"})
    assert Collection.objects.filter(pk=aml.pk).exists()


def test_content_manager_creates_and_admin_deletes_through_the_services(
    content_client: Client, role_users: dict[str, Any], collections: dict[str, Collection]
) -> None:
    response = content_client.post(
        reverse("admin:knowledge_collection_add"),
        {
            "slug": "branch-notes",
            "name": "Branch notes",
            "sensitivity": "internal",
            "read_roles": ["agent"],
            "manage_roles": ["content_manager"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Collection.objects.get(slug="branch-notes")
    assert AuditEvent.objects.filter(action="collection.created", target_id=str(created.pk))

    admin_client = Client()
    admin_client.force_login(role_users["admin"])
    products = collections["products-fees"]  # managed by content managers and admins
    delete = reverse("admin:knowledge_collection_delete", args=[products.pk])
    admin_client.post(delete, {"post": "yes"})
    assert not Collection.objects.filter(pk=products.pk).exists()
    assert AuditEvent.objects.filter(action="collection.deleted", target_id=str(products.pk))


def test_admin_add_with_a_hidden_collections_slug_reveals_nothing(
    content_client: Client, collections: dict[str, Collection]
) -> None:
    errors = []
    for slug in ("products-fees", "compliance-aml"):  # one it manages, one it cannot see
        response = content_client.post(
            reverse("admin:knowledge_collection_add"),
            {"slug": slug, "name": "Copy", "sensitivity": "internal", "read_roles": ["agent"]},
        )
        assert response.status_code == 200
        errors.append(response.context["adminform"].form.errors["slug"])
    assert errors == [["This slug is not available."]] * 2


# The lifecycle in the admin: archive, restore and delete through the services ------------

POLICY = "# Card policy\n\nThe zqcardpolicy replacement fee is 10 euros."


def test_admin_archive_and_restore_actions(
    admin_client: Client,
    role_users: dict[str, Any],
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    from knowledge.selectors import chunk_search

    document = add_document(collections["products-fees"], "Card policy", POLICY)
    changelist = reverse("admin:knowledge_document_changelist")
    html = admin_client.get(changelist).content.decode()
    assert "Archive selected documents" in html and "Restore selected archived" in html
    response = admin_client.post(
        changelist, {"action": "archive", "_selected_action": [document.pk]}, follow=True
    )
    assert "Archived 1 document(s)." in response.content.decode()
    document.refresh_from_db()
    assert document.archived_by == role_users["admin"]
    assert AuditEvent.objects.filter(action="document.archived", target_id=str(document.pk))
    assert not chunk_search(role_users["agent"], "zqcardpolicy", mode="keyword").hits
    listed = admin_client.get(changelist + "?archived=yes").context["cl"].result_list
    assert list(listed) == [document]
    assert list(admin_client.get(changelist + "?archived=no").context["cl"].result_list) == []

    again = admin_client.post(
        changelist, {"action": "archive", "_selected_action": [document.pk]}, follow=True
    )
    assert "already archived" in again.content.decode()
    response = admin_client.post(
        changelist, {"action": "restore", "_selected_action": [document.pk]}, follow=True
    )
    assert "Restored 1 document(s)." in response.content.decode()
    assert chunk_search(role_users["agent"], "zqcardpolicy", mode="keyword").hits


def test_admin_refuses_a_new_file_for_an_archived_document_on_the_form(
    admin_client: Client,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    from knowledge.services import ARCHIVED_NO_NEW_VERSION, document_archive

    document = add_document(collections["products-fees"], "Card policy", POLICY)
    document_archive(actor=None, document=document)
    response = admin_client.post(
        reverse("admin:knowledge_document_change", args=[document.pk]),
        {
            "title": "Card policy",
            "file": SimpleUploadedFile("v2.md", b"# New", content_type="text/markdown"),
            **_versions_management(document),
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["file"] == [ARCHIVED_NO_NEW_VERSION]
    document.refresh_from_db()
    assert document.version == 1


def test_admin_delete_goes_through_the_service(
    client: Client,
    make_user: Any,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
    django_capture_on_commit_callbacks: Any,
) -> None:
    # A content manager, with the model permission to delete documents from the migration.
    content = make_user("content_deleter", Role.CONTENT_MANAGER, is_staff=True)
    client.force_login(content)
    storage = Document._meta.get_field("file").storage
    one = add_document(collections["products-fees"], "Card policy", POLICY)
    delete = reverse("admin:knowledge_document_delete", args=[one.pk])
    page = client.get(delete)
    assert page.status_code == 200
    html = page.content.decode()
    assert "every version and its file" in html and not page.context["perms_lacking"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete, {"post": "yes"})
    assert response.status_code == 302
    assert not Document.objects.filter(pk=one.pk).exists()
    assert not Chunk.objects.filter(document_id=one.pk).exists()
    assert not storage.exists(one.file.name)
    event = AuditEvent.objects.get(action="document.deleted", target_id=str(one.pk))
    assert event.actor == content and event.details["title"] == "Card policy"

    # The admin's own bulk delete goes through the service too.
    two = [add_document(collections["fraud-disputes"], f"Policy {i}", POLICY) for i in range(2)]
    changelist = reverse("admin:knowledge_document_changelist")
    selected = {"action": "delete_selected", "_selected_action": [d.pk for d in two]}
    confirm = client.post(changelist, selected)
    assert confirm.status_code == 200 and not confirm.context["perms_lacking"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {**selected, "post": "yes"})
    assert not Document.objects.filter(pk__in=[d.pk for d in two]).exists()
    assert not any(storage.exists(d.file.name) for d in two)
    assert (
        AuditEvent.objects.filter(
            action="document.deleted", target_id__in=[str(d.pk) for d in two], actor=content
        ).count()
        == 2
    )


def test_admin_lifecycle_of_a_document_one_does_not_manage_answers_like_a_missing_one(
    client: Client,
    make_user: Any,
    collections: dict[str, Collection],
    add_document: Callable[..., Document],
) -> None:
    from django.contrib.auth.models import Permission

    from knowledge.services import document_archive

    # Compliance reads products-fees but does not manage it; staff, with every model
    # permission on documents: the policy still decides.
    compliance = make_user("staff_compliance", Role.COMPLIANCE, is_staff=True)
    compliance.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="knowledge", codename__endswith="document"
        )
    )
    client.force_login(compliance)
    document = add_document(collections["products-fees"], "Card policy", POLICY)
    archived = add_document(collections["products-fees"], "Old card policy", POLICY)
    document_archive(actor=None, document=archived)

    for pk in (document.pk, archived.pk, 999999):
        delete = reverse("admin:knowledge_document_delete", args=[pk])
        for response in (client.get(delete), client.post(delete, {"post": "yes"})):
            assert response.status_code == 302 and response.url == reverse("admin:index"), pk
    change = reverse("admin:knowledge_document_change", args=[archived.pk])
    assert client.get(change).url == reverse("admin:index")

    changelist = reverse("admin:knowledge_document_changelist")
    for action in ("archive", "delete_selected"):
        response = client.post(
            changelist, {"action": action, "_selected_action": [document.pk], "post": "yes"}
        )
        assert response.status_code in (200, 302, 403), action
    document.refresh_from_db()
    assert document.archived_at is None
    assert Document.objects.filter(pk__in=[document.pk, archived.pk]).count() == 2
    assert not AuditEvent.objects.filter(
        action__in=["document.archived", "document.deleted"], actor=compliance
    )
