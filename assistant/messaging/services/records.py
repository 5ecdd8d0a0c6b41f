"""Secure threads as records (docs/records.md): kept ``RETENTION_DAYS["secure_threads"]``
days after their last message once closed (7 years by default: a bank keeps its
communications with customers), never while a legal hold covers their customer or a person
who wrote in them; and exported with the portal's record exports (``secure_messages``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from assistant.messaging.models import MessageAttachment, SecureMessage, Thread, ThreadStatus
from portal.records.retention import delete_files_on_commit

MESSAGE_COLUMNS = (
    "id",
    "thread",
    "customer_id",
    "category",
    "subject",
    "author_kind",
    "author",
    "internal",
    "auto_sent",
    "draft",
    "approved_by",
    "form",
    "body",
    "attachments",
    "created_at",
    "read_at",
    "retracted_at",
    "retracted_by",
    "review",
    "reviewed_by",
)


def threads_expired(cutoff: Any, holds: Any) -> Any:
    """Closed threads without a message since ``cutoff``, none under a legal hold (on their
    customer, or on a person who wrote, approved or withdrew a message in them)."""
    rows = Thread.objects.filter(status=ThreadStatus.CLOSED, last_message_at__lt=cutoff).exclude(
        customer_id__in=holds.of("customer")
    )
    users = holds.of("user")
    if users:
        held = SecureMessage.objects.filter(
            Q(author_id__in=users) | Q(approved_by_id__in=users) | Q(retracted_by_id__in=users)
        )
        rows = rows.exclude(pk__in=held.values("thread_id"))
    return rows


def threads_purge(cutoff: Any, holds: Any, batch: int) -> int:
    """Delete a batch of expired threads with their messages, drafts and files."""
    ids = list(threads_expired(cutoff, holds).values_list("pk", flat=True)[:batch])
    files = MessageAttachment.objects.filter(message__thread_id__in=ids).exclude(file="")
    delete_files_on_commit([row.file for row in files])
    Thread.objects.filter(pk__in=ids).delete()  # messages, drafts and file rows cascade
    return len(ids)


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def message_records(selection: Any) -> Any:
    """Every secure message of ``selection`` (a ``portal.registry.RecordFilter``: written
    in its period, by or about its user, of its customer), internal notes and withdrawn
    replies included, with its files' names and digests. For the export only: the export's
    caller must read the audit trail."""
    messages = SecureMessage.objects.select_related(
        "thread", "author", "approved_by", "retracted_by", "reviewed_by"
    ).order_by("pk")
    messages = selection.in_period(messages)
    if selection.user_id:
        messages = messages.filter(
            Q(author_id=selection.user_id)
            | Q(approved_by_id=selection.user_id)
            | Q(retracted_by_id=selection.user_id)
            | Q(reviewed_by_id=selection.user_id)
        )
    if selection.customer_id:
        messages = messages.filter(thread__customer_id=selection.customer_id)
    for message in messages.prefetch_related("attachments").iterator(chunk_size=200):
        thread = message.thread
        yield {
            "id": message.pk,
            "thread": thread.pk,
            "customer_id": thread.customer_id,
            "category": thread.category,
            "subject": thread.subject,
            "author_kind": message.author_kind,
            "author": _name(message.author),
            "internal": message.internal,
            "auto_sent": message.auto_sent,
            "draft": message.draft_id,
            "approved_by": _name(message.approved_by),
            "form": message.form_id,
            "body": message.body,
            "attachments": [
                {
                    "filename": item.original_filename,
                    "content_type": item.content_type,
                    "size_bytes": item.size_bytes,
                    "sha256": item.sha256,
                }
                for item in message.attachments.all()
            ],
            "created_at": message.created_at.isoformat(),
            "read_at": message.read_at.isoformat() if message.read_at else None,
            "retracted_at": message.retracted_at.isoformat() if message.retracted_at else None,
            "retracted_by": _name(message.retracted_by),
            "review": message.review,
            "reviewed_by": _name(message.reviewed_by),
        }
