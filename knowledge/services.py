"""Writes of the knowledge app: collections and documents (ingestion itself is in ingestion/)."""

from __future__ import annotations

import hashlib
import logging
import os
import statistics
from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from knowledge import fusion
from knowledge.embeddings import get_backend
from knowledge.ingestion.fetch import host_allowed, not_allowed_message
from knowledge.ingestion.limits import parse_limits
from knowledge.ingestion.parsers import ParseError, detect_content_type, precheck
from knowledge.ingestion.pipeline import chunks_return, chunks_withdraw
from knowledge.models import (
    Collection,
    Document,
    DocumentStatus,
    DocumentVersion,
    GoldenQuestion,
)
from knowledge.permissions import (
    can_change_collection_access,
    can_create_collection,
    can_manage_collection,
    would_manage_collection,
)
from knowledge.selectors import MAX_QUERY_LENGTH, documents_needing_reindex, golden_examples
from portal.audit import typed
from portal.formatting import format_size
from portal.permissions import STAFF_ROLES
from portal.services import audit_event_record
from portal.types import AnyUser, account_of
from portal.validation import upload_filename

if TYPE_CHECKING:
    from portal.models import Region

logger = logging.getLogger(__name__)


def _check_roles(roles: Iterable[str], field: str) -> list[str]:
    valid = {role.value for role in STAFF_ROLES}  # customers read customer-facing ones
    roles = sorted(set(roles))
    unknown = [role for role in roles if role not in valid]
    if unknown:
        raise ValidationError({field: f"Unknown role(s): {', '.join(unknown)}."})
    return roles


# Slugs are unique across every collection, including those a user may not see: a taken slug
# answers with the same words whether or not the user could know the collection exists.
SLUG_NOT_AVAILABLE = "This slug is not available."


def collection_slug_check(slug: str, *, collection: Collection | None = None) -> None:
    """Raise ValidationError({"slug": SLUG_NOT_AVAILABLE}) when another collection than
    ``collection`` has ``slug`` (the one check: the services and the admin's form)."""
    taken = Collection.objects.filter(slug=slug)
    if collection is not None and collection.pk is not None:
        taken = taken.exclude(pk=collection.pk)
    if taken.exists():
        raise ValidationError({"slug": SLUG_NOT_AVAILABLE})


CREATOR_LOCKED_OUT = {
    "manage_roles": "Include one of your roles: only an administrator may create a collection "
    "that you would not manage (you could neither see nor change it afterwards).",
    "read_regions": "Include one of your regions, or none: only an administrator may create a "
    "collection that you would not manage (you could neither see nor change it afterwards).",
}


def collection_creator_check(
    *, actor: AnyUser | None, manage_roles: Iterable[str], read_regions: Iterable[Region] = ()
) -> None:
    """Raise ValidationError (by field) when ``actor`` would create a collection they do not
    manage without being allowed to decide access (``can_change_collection_access``).

    Handing a new collection to other roles or regions only is an access decision, like
    changing an existing one's; someone who may not make it would lock themselves out of
    what they made. The one check: ``collection_create`` and the admin's form call it.
    """
    if actor is None or can_change_collection_access(actor):
        return
    regions = _region_ids(read_regions)
    if would_manage_collection(actor, manage_roles=list(manage_roles), read_region_ids=regions):
        return
    roles_ok = would_manage_collection(actor, manage_roles=list(manage_roles), read_region_ids=[])
    field = "read_regions" if roles_ok else "manage_roles"
    raise ValidationError({field: CREATOR_LOCKED_OUT[field]})


@transaction.atomic
def collection_create(
    *,
    actor: AnyUser | None,
    slug: str,
    name: str,
    description: str = "",
    sensitivity: str = "internal",
    read_roles: Iterable[str] = (),
    manage_roles: Iterable[str] = (),
    read_regions: Iterable[Region] = (),
    evaluation_run: str = "",
    customer_facing: bool = False,
) -> Collection:
    """Create a collection; only content managers and admins may, and a content manager only
    one they manage (``collection_creator_check``). ``evaluation_run``: see the field."""
    if actor is not None and not can_create_collection(actor):
        raise PermissionDenied("You may not create collections.")
    if customer_facing and actor is not None and not can_change_collection_access(actor):
        raise ValidationError({"customer_facing": CUSTOMER_FACING_REFUSED})
    read_regions = list(read_regions)
    collection = Collection(
        slug=slug,
        name=name,
        description=description,
        sensitivity=sensitivity,
        read_roles=_check_roles(read_roles, "read_roles"),
        manage_roles=_check_roles(manage_roles, "manage_roles"),
        evaluation_run=evaluation_run,
        customer_facing=customer_facing and not evaluation_run,
    )
    collection_slug_check(slug)
    collection.full_clean()
    collection_creator_check(
        actor=actor, manage_roles=collection.manage_roles, read_regions=read_regions
    )
    collection.save()
    collection.read_regions.set(read_regions)
    audit_event_record(
        action="collection.created",
        actor=actor,
        actor_username="" if actor else "system",
        target=collection,
        details={
            "read_roles": collection.read_roles,
            "manage_roles": collection.manage_roles,
            "customer_facing": collection.customer_facing,
        },
    )
    return collection


# Who reads or manages a collection; "customer_facing" too: its text may then be quoted to
# customers in the assistant's draft replies (assistant.messaging).
ACCESS_FIELDS = ("read_roles", "manage_roles", "read_regions", "customer_facing")
ACCESS_REFUSED = "Only an administrator may change who reads or manages a collection."
CUSTOMER_FACING_REFUSED = "Only an administrator may make a collection customer-facing."


def _region_ids(regions: Iterable[Region]) -> list[int]:
    return sorted(region.pk for region in regions)


def collection_access_check(
    *,
    actor: AnyUser | None,
    collection: Collection,
    read_roles: Iterable[str] | None = None,
    manage_roles: Iterable[str] | None = None,
    read_regions: Iterable[Region] | None = None,
    customer_facing: bool | None = None,
) -> None:
    """Raise ValidationError (by field) when ``actor`` would change who reads or manages the
    stored ``collection`` without being allowed to (``can_change_collection_access``).

    None means "unchanged". The one check of the rule: ``collection_update`` and the admin's
    form call it.
    """
    if actor is None or can_change_collection_access(actor):
        return
    stored = Collection.objects.get(pk=collection.pk)
    changed = [
        field
        for field, wanted, current in (
            ("read_roles", read_roles, stored.read_roles),
            ("manage_roles", manage_roles, stored.manage_roles),
        )
        if wanted is not None and sorted(set(wanted)) != sorted(set(current))
    ]
    if read_regions is not None and _region_ids(read_regions) != _region_ids(
        stored.read_regions.all()
    ):
        changed.append("read_regions")
    if customer_facing is not None and bool(customer_facing) != stored.customer_facing:
        changed.append("customer_facing")
    if changed:
        raise ValidationError(dict.fromkeys(changed, ACCESS_REFUSED))


@transaction.atomic
def collection_update(
    *,
    actor: AnyUser | None,
    collection: Collection,
    slug: str | None = None,
    name: str | None = None,
    description: str | None = None,
    sensitivity: str | None = None,
    read_roles: Iterable[str] | None = None,
    manage_roles: Iterable[str] | None = None,
    read_regions: Iterable[Region] | None = None,
    customer_facing: bool | None = None,
) -> Collection:
    """Change a collection ``actor`` manages (None: unchanged). Its roles and regions are
    changed only by who may decide access (``collection_access_check``)."""
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not change this collection.")
    stored = Collection.objects.select_for_update().get(pk=collection.pk)
    checked_read = None if read_roles is None else _check_roles(read_roles, "read_roles")
    checked_manage = None if manage_roles is None else _check_roles(manage_roles, "manage_roles")
    regions = None if read_regions is None else list(read_regions)
    collection_access_check(
        actor=actor,
        collection=stored,
        read_roles=checked_read,
        manage_roles=checked_manage,
        read_regions=regions,
        customer_facing=customer_facing,
    )
    if customer_facing and stored.evaluation_run:
        raise ValidationError(
            {"customer_facing": "An evaluation collection is never customer-facing."}
        )
    before = {
        "read_roles": stored.read_roles,
        "manage_roles": stored.manage_roles,
        "read_regions": _region_ids(stored.read_regions.all()),
        "customer_facing": stored.customer_facing,
    }
    for field, value in (
        ("slug", slug),
        ("name", name),
        ("description", description),
        ("sensitivity", sensitivity),
        ("read_roles", checked_read),
        ("manage_roles", checked_manage),
        ("customer_facing", customer_facing),
    ):
        if value is not None:
            setattr(stored, field, value)
    collection_slug_check(stored.slug, collection=stored)
    stored.full_clean()
    stored.save()
    if regions is not None:
        stored.read_regions.set(regions)
    after = {
        "read_roles": stored.read_roles,
        "manage_roles": stored.manage_roles,
        "read_regions": _region_ids(stored.read_regions.all()),
        "customer_facing": stored.customer_facing,
    }
    audit_event_record(
        action="collection.updated",
        actor=actor,
        actor_username="" if actor else "system",
        target=stored,
        details={
            "slug": stored.slug,
            **after,
            "access_changed": [field for field in ACCESS_FIELDS if before[field] != after[field]],
        },
    )
    return stored


@transaction.atomic
def collection_delete(*, actor: AnyUser | None, collection: Collection) -> None:
    """Delete a collection with its documents, chunks and stored files."""
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not delete this collection.")
    documents = Document.objects.filter(collection=collection)
    names = _stored_files(documents)
    count = documents.count()
    documents.delete()
    audit_event_record(
        action="collection.deleted",
        actor=actor,
        actor_username="" if actor else "system",
        target=collection,
        details={"slug": collection.slug, "documents": count},
    )
    collection.delete()
    _delete_files_on_commit(names)


def _stored_files(documents: QuerySet[Document]) -> set[str]:
    """The names in storage of every upload of ``documents`` (all their versions)."""
    names = set(documents.exclude(file="").values_list("file", flat=True))
    names |= set(
        DocumentVersion.objects.filter(document__in=documents)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    return names


def _delete_files_on_commit(names: set[str]) -> None:
    """Delete these files once the rows that named them are gone for good (after commit: a
    rolled-back delete keeps its files)."""
    storage = Document._meta.get_field("file").storage

    def delete_files() -> None:
        for name in sorted(names):
            try:
                storage.delete(name)
            except Exception:  # the rows are gone; a file left over (disk or blob store) is
                # logged, not fatal, and the other files still go
                logger.exception("Could not delete the stored file %s.", name)

    transaction.on_commit(delete_files)


def _file_facts(upload: File) -> tuple[str, str, int]:
    digest = hashlib.sha256()
    size = 0
    for piece in upload.chunks():
        digest.update(piece)
        size += len(piece)
    upload.seek(0)
    return digest.hexdigest(), upload_filename(upload.name), size


def _precheck(upload: File, filename: str, size: int, claimed: str | None) -> tuple[str, str]:
    """(content type, error): cheap checks done at upload so that bad files never wait."""
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    if size > limit:
        return "", f"The file is {format_size(size)}; the limit is {format_size(limit)}."
    data = upload.read()  # within the size limit; a DOCX's ZIP directory sits at the end
    upload.seek(0)
    try:
        content_type = detect_content_type(filename, data, claimed)
        # The format's limits that need no parsing (a Word file's ZIP directory, the size
        # of a Markdown file, ...): a file over one fails now rather than in the worker.
        precheck(data, content_type, parse_limits())
    except ParseError as error:
        return "", str(error)
    return content_type, ""


def _store_version(
    *, document: Document, upload: File | None, actor: AnyUser | None, effective_date: date | None,
    claimed_type: str | None,
) -> DocumentVersion:  # fmt: skip
    version = DocumentVersion(
        document=document,
        number=document.version,
        uploaded_by=account_of(actor),
        effective_date=effective_date,
    )
    if upload is None and document.source_url:
        # Fetched by the worker at every (re)processing, so reprocess refreshes it.
        allowed = host_allowed(document.source_url)
        document.status = DocumentStatus.PENDING if allowed else DocumentStatus.FAILED
        document.error = "" if allowed else not_allowed_message(document.source_url)
        document.file.name = ""
        document.content_type = document.original_filename = document.sha256 = ""
    elif upload is None:
        document.status = DocumentStatus.FAILED
        document.error = "No file was given; upload a file or give a source URL."
    else:
        sha256, filename, size = _file_facts(upload)
        content_type, error = _precheck(upload, filename, size, claimed_type)
        document.original_filename = version.original_filename = filename
        document.sha256 = version.sha256 = sha256
        document.size_bytes = version.size_bytes = size
        document.content_type = version.content_type = content_type
        document.status = DocumentStatus.FAILED if error else DocumentStatus.PENDING
        document.error = error
        document.file.name = ""  # a rejected file is not kept (older versions keep theirs)
        if not error:
            document.file.save(filename, upload, save=False)
            version.file.name = document.file.name
    version.status, version.error = document.status, document.error
    document.ingest_attempts = 0  # a new version starts with a clean count
    # A run that took the old version along no longer holds it: the new one's task may run.
    document.claimed_until = None
    document.effective_date = effective_date or document.effective_date
    document.full_clean()
    document.save()
    version.document = document  # now that it has a primary key
    version.full_clean()
    version.save()
    return version


def _enqueue(document: Document) -> None:
    """Queue ingestion after commit; if the broker is down the document stays pending and
    the periodic requeue task picks it up, so nothing is lost."""
    if document.status != DocumentStatus.PENDING:
        return
    document_id = document.pk

    def send() -> None:
        from knowledge.tasks import document_ingest_task

        try:
            document_ingest_task.apply_async((document_id,), retry=False)
        except Exception:
            logger.exception("Could not queue document %s; it stays pending.", document_id)

    transaction.on_commit(send)


@transaction.atomic
def document_create(
    *,
    actor: AnyUser | None,
    collection: Collection,
    title: str,
    file: File | None = None,
    source_url: str = "",
    effective_date: date | None = None,
    content_type: str | None = None,
    enqueue: bool = True,
) -> Document:
    """Store a new document (status pending) and enqueue its ingestion after commit.

    ``enqueue=False`` is for bulk loads that call the ingestion pipeline themselves.

    A file that is too large or not what it claims to be is recorded as ``failed`` with
    the reason, and not kept.
    """
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not add documents to this collection.")
    document = Document(
        collection=collection,
        title=title.strip(),
        source_url=source_url,
        uploaded_by=account_of(actor),
        version=1,
    )
    _store_version(document=document, upload=file, actor=actor, effective_date=effective_date,
                   claimed_type=content_type)  # fmt: skip
    audit_event_record(
        action="document.created",
        actor=actor,
        actor_username="" if actor else "system",
        target=document,
        details={
            "collection": collection.slug,
            "sha256": document.sha256,
            "status": document.status,
        },
    )
    if enqueue:
        _enqueue(document)
    return document


# An archived document is frozen: a new version or a reprocess would make an archived
# policy look current to the people who manage it; restoring is the explicit decision.
ARCHIVED_NO_NEW_VERSION = (
    "This document is archived. Restore it before uploading a new version, "
    "or upload the file as a new document."
)
ARCHIVED_NO_REPROCESS = "This document is archived. Restore it before reprocessing it."


@transaction.atomic
def document_replace_file(
    *,
    actor: AnyUser | None,
    document: Document,
    file: File,
    effective_date: date | None = None,
    content_type: str | None = None,
    enqueue: bool = True,
) -> Document:
    """Upload a new version; search keeps answering from the live one until it is ready."""
    document = Document.objects.select_for_update().get(pk=document.pk)
    if actor is not None and not can_manage_collection(actor, document.collection):
        raise PermissionDenied("You may not change documents of this collection.")
    if document.archived_at is not None:
        raise ValidationError({"file": ARCHIVED_NO_NEW_VERSION})
    document.version += 1
    _store_version(document=document, upload=file, actor=actor, effective_date=effective_date,
                   claimed_type=content_type)  # fmt: skip
    audit_event_record(
        action="document.replaced",
        actor=actor,
        target=document,
        details={"version": document.version, "sha256": document.sha256, "status": document.status},
    )
    if enqueue:
        _enqueue(document)
    return document


@transaction.atomic
def document_reprocess(*, actor: AnyUser | None, document: Document) -> Document:
    """Queue the newest version for ingestion again (after a failure, or to re-index)."""
    document = Document.objects.select_for_update().get(pk=document.pk)
    if actor is not None and not can_manage_collection(actor, document.collection):
        raise PermissionDenied("You may not reprocess documents of this collection.")
    if document.archived_at is not None:
        raise ValidationError(ARCHIVED_NO_REPROCESS)
    if not document.file and not document.source_url:
        raise ValidationError("This version has no stored file; upload a new one instead.")
    document.status = DocumentStatus.PENDING
    document.error = ""
    document.ingest_attempts = 0
    document.claimed_until = None  # its own task runs it, whoever had taken it along
    document.save(
        update_fields=["status", "error", "ingest_attempts", "claimed_until", "updated_at"]
    )
    audit_event_record(action="document.reprocess", actor=actor, target=document)
    _enqueue(document)
    return document


MAX_REASON_LENGTH = 1000


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            {"reason": f"The reason is longer than {MAX_REASON_LENGTH} characters."}
        )
    return reason


def _managed_for_update(actor: AnyUser | None, document: Document, what: str) -> Document:
    """The document's row, locked (ingestion's swap locks it too), once ``actor`` is known
    to manage its collection."""
    rows = Document.objects.select_for_update(of=("self",)).select_related("collection")
    document = rows.get(pk=document.pk)
    if actor is not None and not can_manage_collection(actor, document.collection):
        raise PermissionDenied(f"You may not {what} documents of this collection.")
    return document


@transaction.atomic
def document_archive(*, actor: AnyUser | None, document: Document, reason: str = "") -> Document:
    """Take a document out of search and answers at once, keeping it (versions, files and
    chunks) for the records; ``document_restore`` brings it back without re-ingestion.

    Its chunks lose their collection and postings in this transaction, so no search path
    returns them once it commits; an ingestion finishing later keeps them out too.
    """
    reason = _reason(reason)
    document = _managed_for_update(actor, document, "archive")
    if document.archived_at is not None:
        raise ValidationError("This document is already archived.")
    document.archived_at = timezone.now()
    document.archived_by = account_of(actor)
    document.archive_reason = reason
    document.save(update_fields=["archived_at", "archived_by", "archive_reason", "updated_at"])
    chunks_withdraw(document.pk)
    audit_event_record(
        action="document.archived",
        actor=actor,
        actor_username="" if actor else "system",
        target=document,
        details={
            "title": document.title,
            "collection": document.collection.slug,
            "version": document.version,
            "live_version": document.live_version,
            "reason": typed(reason),  # the manager's words: a fingerprint (portal.audit)
        },
    )
    return document


@transaction.atomic
def document_restore(*, actor: AnyUser | None, document: Document) -> Document:
    """Make an archived document searchable again at once (its stored chunks return to search;
    nothing is re-ingested)."""
    document = _managed_for_update(actor, document, "restore")
    if document.archived_at is None:
        raise ValidationError("This document is not archived.")
    archived_at, archived_by = document.archived_at, document.archived_by
    document.archived_at = None
    document.archived_by = None
    document.archive_reason = ""
    document.save(update_fields=["archived_at", "archived_by", "archive_reason", "updated_at"])
    chunks_return(document.pk, document.collection_id)
    audit_event_record(
        action="document.restored",
        actor=actor,
        actor_username="" if actor else "system",
        target=document,
        details={
            "title": document.title,
            "collection": document.collection.slug,
            "archived_at": archived_at.isoformat(),
            "archived_by": archived_by.get_username() if archived_by else "",
        },
    )
    return document


@transaction.atomic
def document_delete(*, actor: AnyUser | None, document: Document, reason: str = "") -> None:
    """Delete a document for good: its versions, their stored files (after commit) and its
    chunks and postings; audited with what it was (title, collection, SHA-256 of each version).

    The row is locked first, so an ingestion run either swapped its chunks in before (they
    go with the document) or finds the document gone and writes nothing.
    """
    reason = _reason(reason)
    document = _managed_for_update(actor, document, "delete")
    documents = Document.objects.filter(pk=document.pk)
    names = _stored_files(documents)
    versions = list(
        DocumentVersion.objects.filter(document=document)
        .order_by("number")
        .values("number", "sha256")
    )
    audit_event_record(
        action="document.deleted",
        actor=actor,
        actor_username="" if actor else "system",
        target=document,
        details={
            "title": document.title,
            "collection": document.collection.slug,
            "sha256": document.sha256,
            "versions": versions,
            "chunks": document.chunk_count,
            "files": len(names),
            "archived": document.archived_at is not None,
            "reason": typed(reason),
        },
    )
    documents.delete()  # versions, chunks (and postings, in the database) with it
    _delete_files_on_commit(names)


# --- retention (portal.records.retention, through the registry) --------------------------


def document_versions_expired(cutoff: object, holds: object) -> QuerySet[DocumentVersion]:
    """Uploads replaced before ``cutoff`` (a later version of their document was uploaded
    then) that are no longer the live one; counted from their replacement, not upload."""
    from django.db.models import Exists, F, OuterRef

    replaced = DocumentVersion.objects.filter(
        document=OuterRef("document"), number__gt=OuterRef("number"), created_at__lt=cutoff
    )
    return DocumentVersion.objects.filter(Exists(replaced), number__lt=F("document__live_version"))


def document_versions_purge(cutoff: object, holds: object, batch: int) -> int:
    """Delete a batch of expired document versions; their files once committed."""
    rows = list(document_versions_expired(cutoff, holds)[:batch])
    _delete_files_on_commit({version.file.name for version in rows if version.file})
    DocumentVersion.objects.filter(pk__in=[version.pk for version in rows]).delete()
    return len(rows)


# --- evaluation runs (manage.py evaluate_retrieval) ---------------------------------------

EVALUATION_KEPT = "kept"
EVALUATION_MAX_AGE = timedelta(hours=24)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


@transaction.atomic
def evaluation_leftovers_delete(*, host: str) -> list[str]:
    """Delete what interrupted evaluation runs left (their collection with its documents,
    their user and region): runs of ``host`` whose process is gone, and any run older than
    a day. Kept collections (``--keep``) stay. Returns the slugs deleted."""
    from django.contrib.auth import get_user_model

    deleted = []
    old = timezone.now() - EVALUATION_MAX_AGE
    for collection in Collection.objects.exclude(evaluation_run__in=["", EVALUATION_KEPT]):
        run_host, _, pid = collection.evaluation_run.rpartition(":")
        gone = run_host == host and pid.isdigit() and not _process_alive(int(pid))
        if not gone and collection.created_at >= old:
            continue  # a run still going (here or on another machine)
        tag = collection.slug.removeprefix("eval-")
        regions = list(collection.read_regions.all())
        collection_delete(actor=None, collection=collection)
        get_user_model().objects.filter(username=f"eval-{tag}").delete()
        for region in regions:
            if region.code.startswith("eval-"):
                region.delete()
        deleted.append(collection.slug)
    return deleted


def _one_line(text: object) -> str:
    """A golden question as stored: whitespace runs made one space."""
    return " ".join(str(text or "").split())


def _golden_documents(collection: Collection, refs: Iterable[object]) -> list[Document]:
    """Documents of ``collection`` named by id or source URL; a ValidationError names those
    that are not in it (whether they exist elsewhere is not said)."""
    documents, missing = [], []
    for ref in refs:
        text = str(ref).strip()
        is_id = text.isascii() and text.isdigit() and len(text) < 19  # a bigint
        lookup = {"pk": int(text)} if is_id else {"source_url": text}
        usable = text and "\x00" not in text and len(text) <= 1000  # source_url's length
        found = Document.objects.filter(collection=collection, **lookup).first() if usable else None
        if found is None:
            missing.append(text[:100].replace("\x00", "") or "(empty)")
        elif found not in documents:
            documents.append(found)
    if missing:
        raise ValidationError(
            {"documents": f"Not a document of this collection: {', '.join(missing[:5])}."}
        )
    if not documents:
        raise ValidationError({"documents": "Name at least one expected document."})
    return documents


def golden_question_check(
    collection: Collection, question: object, golden: GoldenQuestion | None = None
) -> str:
    """The question as it would be stored (whitespace runs made one space), or a
    ValidationError: empty, too long, or already a question of the collection."""
    text = _one_line(question)
    if not text:
        raise ValidationError({"question": "Enter the question."})
    if "\x00" in text:  # PostgreSQL text cannot hold it: a clear refusal, not a 500
        raise ValidationError({"question": "The question contains a NUL character."})
    if len(text) > MAX_QUERY_LENGTH:
        raise ValidationError(
            {"question": f"The question is longer than {MAX_QUERY_LENGTH} characters."}
        )
    same = GoldenQuestion.objects.filter(collection=collection, question=text)
    if golden is not None:
        same = same.exclude(pk=golden.pk)
    if same.exists():
        raise ValidationError({"question": "This collection already has this question."})
    return text


def golden_question_save(
    *,
    actor: AnyUser | None,
    collection: Collection,
    question: str,
    documents: Iterable[object],
    golden: GoldenQuestion | None = None,
) -> GoldenQuestion:
    """Create (or change ``golden``) a golden question of a collection ``actor`` manages:
    the question and the documents of that collection that answer it (ids, source URLs or
    ``Document`` rows). A question stays in its collection."""
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not change this collection.")
    if golden is not None and golden.collection_id != collection.pk:
        raise ValidationError({"collection": "A golden question stays in its collection."})
    text = golden_question_check(collection, question, golden)
    refs = [d.pk if isinstance(d, Document) else d for d in documents]
    expected = _golden_documents(collection, refs)
    before: dict[str, object] = {}
    try:
        with transaction.atomic():
            if golden is None:
                golden = GoldenQuestion.objects.create(
                    collection=collection, question=text, created_by=account_of(actor)
                )
            else:
                stored = GoldenQuestion.objects.select_for_update().get(pk=golden.pk)
                before = {
                    # The stored question (the admin's form has changed the instance).
                    "question_changed": stored.question != text,
                    "documents_before": sorted(
                        golden.expected_documents.values_list("pk", flat=True)
                    ),
                }
                golden.question = text
                golden.save(update_fields=["question", "updated_at"])
            golden.expected_documents.set(expected)
            audit_event_record(
                action="golden_question.saved",
                actor=actor,
                actor_username="" if actor else "system",
                target=golden,
                details={
                    "collection": collection.slug,
                    "documents": sorted(d.pk for d in expected),
                    **before,
                },
            )
    except IntegrityError as error:  # the same question saved at the same moment
        raise ValidationError({"question": "This collection already has this question."}) from error
    return golden


def golden_question_delete(*, actor: AnyUser | None, golden: GoldenQuestion) -> None:
    if actor is not None and not can_manage_collection(actor, golden.collection):
        raise PermissionDenied("You may not change this collection.")
    with transaction.atomic():
        audit_event_record(
            action="golden_question.deleted",
            actor=actor,
            actor_username="" if actor else "system",
            target=golden,
            details={"collection": golden.collection.slug},
        )
        golden.delete()


def golden_questions_import(
    *, actor: AnyUser | None, collection: Collection, rows: Iterable[dict[str, object]]
) -> tuple[int, int]:
    """Import golden questions (``{"question": ..., "documents": [id or source URL, ...]}``
    per row, and optionally ``"line"``: where the row is in its file): all or nothing. A
    question already there gets the new documents. Returns (created, updated); a
    ValidationError lists every bad row (by its line, else its 1-based number)."""
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not change this collection.")
    errors: list[str] = []
    created = updated = 0
    with transaction.atomic():
        for number, row in enumerate(rows, start=1):
            raw = row.get("documents") if isinstance(row, dict) else None
            refs = raw if isinstance(raw, list) else [raw] if raw not in (None, "") else []
            question = _one_line(row.get("question")) if isinstance(row, dict) else ""
            existing = GoldenQuestion.objects.filter(collection=collection, question=question)
            golden = existing.first() if question and "\x00" not in question else None
            try:
                with transaction.atomic():
                    golden_question_save(
                        actor=actor,
                        collection=collection,
                        question=question,
                        documents=refs,
                        golden=golden,
                    )
            except ValidationError as error:
                messages = [m for ms in error.message_dict.values() for m in ms]
                line = row.get("line") if isinstance(row, dict) else None
                where = f"line {line}" if isinstance(line, int) else f"row {number}"
                errors.append(f"{where}: {' '.join(messages)}")
                continue
            if golden is None:
                created += 1
            else:
                updated += 1
        if errors:
            transaction.set_rollback(True)
    if errors:
        raise ValidationError(
            errors[:50] + ([f"... {len(errors) - 50} more"] if len(errors) > 50 else [])
        )
    return created, updated


def collection_fusion_fit(*, actor: AnyUser | None, collection: Collection) -> fusion.Fit:
    """Fit the dense weight of hybrid search from the collection's golden questions (best
    mean nDCG@10 on a grid, ``knowledge.fusion``) and use it from now on. A
    ValidationError when there are fewer than ``fusion.MIN_GOLDEN_QUESTIONS``."""
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not change this collection.")
    if documents_needing_reindex().filter(collection=collection).exists():
        raise ValidationError(
            "Documents of this collection were embedded with another model than the one in "
            "use: re-index them first (manage.py reindex), then fit."
        )
    examples = golden_examples(collection)
    default = settings.KNOWLEDGE_FUSION_DENSE_WEIGHT
    fit = fusion.fit_dense_weight(examples, default)
    if fit is None:
        raise ValidationError(
            f"Fitting needs at least {fusion.MIN_GOLDEN_QUESTIONS} golden questions with "
            f"expected documents; this collection has {len(examples)}."
        )

    def mean_ndcg(weight: float) -> float:
        return round(statistics.fmean(fusion.example_ndcg(e, weight) for e in examples), 4)

    report = {
        **fit.report(),
        "default_weight": default,
        "embedding_model": get_backend().model_id,
        "dense": mean_ndcg(1.0),
        "keyword": mean_ndcg(0.0),
        "hybrid_default": mean_ndcg(default),
    }
    with transaction.atomic():
        stored = Collection.objects.select_for_update().get(pk=collection.pk)
        stored.fusion_weight = fit.dense_weight
        stored.fusion_fitted_at = timezone.now()
        stored.fusion_fit = report
        stored.save(update_fields=["fusion_weight", "fusion_fitted_at", "fusion_fit", "updated_at"])
        audit_event_record(
            action="collection.fusion_fitted",
            actor=actor,
            actor_username="" if actor else "system",
            target=stored,
            details={"slug": stored.slug, **report},
        )
    return fit


def collection_fusion_reset(*, actor: AnyUser | None, collection: Collection) -> None:
    """Back to ``KNOWLEDGE_FUSION_DENSE_WEIGHT`` for this collection."""
    if actor is not None and not can_manage_collection(actor, collection):
        raise PermissionDenied("You may not change this collection.")
    with transaction.atomic():
        Collection.objects.filter(pk=collection.pk).update(
            fusion_weight=None, fusion_fitted_at=None, fusion_fit={}, updated_at=timezone.now()
        )
        audit_event_record(
            action="collection.fusion_reset",
            actor=actor,
            actor_username="" if actor else "system",
            target=collection,
            details={"slug": collection.slug},
        )
