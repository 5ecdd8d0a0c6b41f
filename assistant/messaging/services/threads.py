"""Threads and messages: a customer writes, staff reply, note, assign, close, withdraw."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from assistant.messaging.models import (
    Author,
    Category,
    Draft,
    DraftStatus,
    SampleReview,
    SecureMessage,
    Thread,
    ThreadStatus,
)
from assistant.messaging.permissions import customer_side, handles_threads, threads_visible_to
from assistant.messaging.services.attachments import (
    CheckedFile,
    attachments_check,
    attachments_store,
    files_removed_on_failure,
)
from assistant.messaging.services.drafting import EXTRACTIVE_MODEL
from assistant.messaging.services.matching import needs_a_person
from knowledge.customers.selectors import customer_records_get, own_customer
from knowledge.selectors import customer_facing_collection_slugs
from portal.permissions import Action, can, is_customer
from portal.services import audit_event_record
from portal.types import AnyUser, User
from portal.validation import InvalidText, check_text

if TYPE_CHECKING:
    from forms_app.models import FormSubmission

logger = logging.getLogger(__name__)

MAX_SUBJECT = 200
# Queued by name (assistant/messaging/tasks.py calls these services: no import back).
DRAFT_TASK = "assistant.messaging.tasks.draft_write_task"
NOTIFY_TASK = "assistant.messaging.tasks.customer_notify_task"
NOT_FOUND = "No such thread."


def _clean_body(body: str, field: str = "body") -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError({field: "Write a message."})
    if len(body) > settings.SECURE_MESSAGE_MAX_CHARS:
        raise ValidationError(
            {field: f"A message is at most {settings.SECURE_MESSAGE_MAX_CHARS} characters."}
        )
    _check_text(body, "The message", field)
    return body


def _clean_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        raise ValidationError({"subject": "Give the message a subject."})
    if len(subject) > MAX_SUBJECT:
        raise ValidationError({"subject": f"A subject is at most {MAX_SUBJECT} characters."})
    _check_text(subject, "The subject", "subject")
    return subject


def _check_text(value: str, where: str, field: str) -> None:
    """Invalid text (a NUL, a lone surrogate) is a validation error of ``field`` for every
    caller, not only for requests (where the middleware answers 400)."""
    try:
        check_text(value, where)
    except InvalidText as invalid:
        raise ValidationError({field: str(invalid)}) from invalid


def _account(user: AnyUser) -> User:
    """The signed-in account writing (services are never called for anonymous users)."""
    if not isinstance(user, User) or not user.is_active:
        raise PermissionDenied("Sign in first.")
    return user


def _check_rate(user: AnyUser) -> None:
    """A customer's messages per hour are limited (each one is searched and drafted)."""
    limit = settings.SECURE_CUSTOMER_MESSAGES_PER_HOUR
    since = timezone.now() - timedelta(hours=1)
    sent = SecureMessage.objects.filter(
        author_id=user.pk, author_kind=Author.CUSTOMER, created_at__gte=since
    ).count()
    if limit and sent >= limit:
        raise ValidationError(
            {"body": f"You sent {sent} messages in the last hour: please wait a little."}
        )


def _own_thread(user: AnyUser, thread: Thread) -> Thread:
    """``thread`` locked, if ``user`` sees it (a customer their own, staff their regions')."""
    row = threads_visible_to(user).select_for_update(of=("self",)).filter(pk=thread.pk).first()
    if row is None:
        raise Thread.DoesNotExist(NOT_FOUND)
    return row


def _handled_thread(user: AnyUser, thread: Thread) -> Thread:
    if not handles_threads(user):
        raise Thread.DoesNotExist(NOT_FOUND)
    return _own_thread(user, thread)


def _draft_prepare(thread: Thread, message: SecureMessage) -> Draft:
    """A draft to be written by the assistant for ``message``, queued after commit (a draft
    left pending because the broker was down is queued again by the hourly sweep)."""
    draft = Draft.objects.create(thread=thread, message=message, status=DraftStatus.PENDING)

    def send() -> None:
        try:
            current_app.send_task(DRAFT_TASK, (draft.pk,), retry=False)
        except Exception:
            logger.exception("Could not queue draft %s; the sweep will.", draft.pk)

    transaction.on_commit(send)
    return draft


def _notify_customer(thread: Thread) -> None:
    def send() -> None:
        try:
            current_app.send_task(NOTIFY_TASK, (thread.pk,), retry=False)
        except Exception:
            logger.exception("Could not queue the notification of thread %s.", thread.pk)

    transaction.on_commit(send)


def thread_start(
    *,
    user: AnyUser,
    subject: str,
    category: str,
    body: str,
    attachments: Sequence[UploadedFile] = (),
) -> Thread:
    """A customer starts a thread with its first message (and its files); the assistant
    drafts a reply."""
    with files_removed_on_failure() as stored, transaction.atomic():
        customer = own_customer(user) if can(user, Action.USE_SECURE_MESSAGES) else None
        if customer is None:
            raise PermissionDenied("Only a customer starts a secure thread.")
        _check_rate(user)
        errors: dict[str, str] = {}
        try:
            subject = _clean_subject(subject)
        except ValidationError as error:
            errors.update(error.message_dict)  # type: ignore[arg-type]
        try:
            body = _clean_body(body)
        except ValidationError as error:
            errors.update(error.message_dict)  # type: ignore[arg-type]
        if category not in Category.values:
            errors["category"] = "Choose what the message is about."
        files: list[CheckedFile] = []
        try:
            files = attachments_check(attachments)
        except ValidationError as error:
            errors.update(error.message_dict)  # type: ignore[arg-type]
        if errors:
            raise ValidationError(errors)
        now = timezone.now()
        thread = Thread.objects.create(
            customer=customer,
            region_id=customer.region_id,
            subject=subject,
            category=category,
            status=ThreadStatus.AWAITING_BANK,
            waiting_since=now,
            last_message_at=now,
        )
        message = SecureMessage.objects.create(
            thread=thread, author_kind=Author.CUSTOMER, author=_account(user), body=body
        )
        audit_event_record(
            action="messaging.thread_started",
            actor=user,
            target=thread,
            details={
                "category": category,
                "message": message.pk,
                "attachments": attachments_store(message, files, stored),
            },
        )
        _draft_prepare(thread, message)
        return thread


def customer_message_post(
    *, user: AnyUser, thread: Thread, body: str, attachments: Sequence[UploadedFile] = ()
) -> SecureMessage:
    """A customer writes in their thread (a closed one reopens); the assistant drafts."""
    with files_removed_on_failure() as stored, transaction.atomic():
        if not is_customer(user) or not threads_visible_to(user).filter(pk=thread.pk).exists():
            raise Thread.DoesNotExist(NOT_FOUND)
        body = _clean_body(body)
        _check_rate(user)
        files = attachments_check(attachments)  # read and hashed before the thread is locked
        thread = _own_thread(user, thread)
        now = timezone.now()
        message = SecureMessage.objects.create(
            thread=thread, author_kind=Author.CUSTOMER, author=_account(user), body=body
        )
        reopened = thread.status == ThreadStatus.CLOSED
        thread.status = ThreadStatus.AWAITING_BANK
        thread.waiting_since = thread.waiting_since or now
        thread.last_message_at = now
        thread.closed_at = None
        thread.save(update_fields=["status", "waiting_since", "last_message_at", "closed_at"])
        audit_event_record(
            action="messaging.message_received",
            actor=user,
            target=message,
            details={
                "thread": thread.pk,
                "reopened": reopened,
                "attachments": attachments_store(message, files, stored),
            },
        )
        _draft_prepare(thread, message)
        return message


def _customer_messages(thread: Thread) -> Any:
    return SecureMessage.objects.filter(
        thread=thread, author_kind=Author.CUSTOMER, retracted_at__isnull=True
    )


def _recompute_waiting(thread: Thread) -> None:
    """Status and timer from the messages: customer messages after the bank's last reply
    (withdrawn replies do not count) wait for the bank."""
    last_reply = (
        SecureMessage.objects.filter(
            thread=thread, author_kind=Author.STAFF, internal=False, retracted_at__isnull=True
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    waiting = _customer_messages(thread)
    if last_reply is not None:
        waiting = waiting.filter(created_at__gt=last_reply.created_at)
    first = waiting.order_by("created_at", "pk").first()
    if thread.status != ThreadStatus.CLOSED:
        if first is not None or last_reply is None:
            thread.status = ThreadStatus.AWAITING_BANK
        else:
            thread.status = ThreadStatus.AWAITING_CUSTOMER
    thread.waiting_since = first.created_at if first is not None else None
    thread.save(update_fields=["status", "waiting_since"])


def _line_changes(before: str, after: str) -> dict[str, int]:
    import difflib

    added = removed = 0
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return {"lines_added": added, "lines_removed": removed}


def _form_for_customer(
    user: AnyUser, thread: Thread, slug: str, transaction_id: int | None
) -> FormSubmission:
    """A draft of form ``slug`` for the thread's customer, pre-filled as ``user`` may see the
    records (bound to the customer's own ``transaction_id``), sent to the customer."""
    from forms_app.selectors import definition_get
    from forms_app.services import prefill, submission_create_draft
    from forms_app.services.customer_forms import submission_send_to_customer

    try:
        definition = definition_get(user, slug)
        records = customer_records_get(user, thread.customer, None, transaction_id)
    except ObjectDoesNotExist as missing:
        raise ValidationError(
            {"form": "You may not fill this form for this customer."}
        ) from missing
    account = records.transaction.account if records.transaction is not None else None
    values = prefill(user, definition, records.customer, account, records.transaction)
    initial = {key: item["value"] for key, item in values.items() if item["value"] is not None}
    submission = submission_create_draft(
        actor=user,
        definition=definition,
        customer=records.customer,
        account=account,
        transaction=records.transaction,
        data=initial,
    )
    return submission_send_to_customer(actor=user, submission=submission)


def staff_reply_send(
    *,
    user: AnyUser,
    thread: Thread,
    body: str,
    draft: Draft | None = None,
    form: str = "",
    form_transaction: int | None = None,
    seen: int | None = None,
    attachments: Sequence[UploadedFile] = (),
) -> SecureMessage:
    """Staff answer the customer (``draft``: the assistant's draft this reply approves, as
    edited; ``form``: the slug of a form to send with it, bound to the customer's own
    ``form_transaction``); the customer is told by e-mail that a message is waiting, never
    its content. ``seen``: the newest message the sender had in front of them; customer
    messages after it stay unanswered (the thread keeps waiting for the bank);
    ``attachments``: files sent with the reply (checked like the customer's)."""
    with files_removed_on_failure() as stored, transaction.atomic():
        if not handles_threads(user) or not threads_visible_to(user).filter(pk=thread.pk).exists():
            raise Thread.DoesNotExist(NOT_FOUND)
        body = _clean_body(body)
        files = attachments_check(attachments)  # read and hashed before the thread is locked
        thread = _handled_thread(user, thread)
        if thread.customer.erased_at is not None:
            raise ValidationError({"body": "This customer's personal data was erased."})
        submission = _form_for_customer(user, thread, form, form_transaction) if form else None
        now = timezone.now()
        if draft is not None:
            draft = Draft.objects.select_for_update().filter(pk=draft.pk, thread=thread).first()
            if draft is None:
                raise ValidationError({"draft": "No such draft in this thread."})
            if draft.status != DraftStatus.READY:
                state = draft.get_status_display().lower()
                raise ValidationError({"draft": f"This draft is {state}: it cannot be sent."})
        message = SecureMessage.objects.create(
            thread=thread,
            author_kind=Author.STAFF,
            author=_account(user),
            body=body,
            draft=draft,
            approved_by=_account(user) if draft is not None else None,
            form=submission,
        )
        _replied(thread, message, draft, seen)
        if draft is not None:
            edited = draft.body.strip() != body
            draft.status = DraftStatus.SENT
            draft.decided_by = user if isinstance(user, User) else None
            draft.decided_at = now
            draft.save(update_fields=["status", "decided_by", "decided_at"])
            if edited:
                audit_event_record(
                    action="messaging.draft_edited",
                    actor=user,
                    target=draft,
                    details={"thread": thread.pk, **_line_changes(draft.body, body)},
                )
            audit_event_record(
                action="messaging.draft_approved",
                actor=user,
                target=draft,
                details={"thread": thread.pk, "message": message.pk, "edited": edited},
            )
        audit_event_record(
            action="messaging.reply_sent",
            actor=user,
            target=message,
            details={
                "thread": thread.pk,
                "draft": draft.pk if draft else None,
                "form_submission": submission.pk if submission else None,
                "attachments": attachments_store(message, files, stored),
            },
        )
        _notify_customer(thread)
        return message


def _replied(thread: Thread, message: SecureMessage, draft: Draft | None, seen: int | None) -> None:
    """The thread after a reply: customer messages after ``seen`` still wait for the bank;
    drafts for the messages the reply answered are no longer to be sent."""
    now = timezone.now()
    unseen = _customer_messages(thread).exclude(pk=message.pk)
    unseen = unseen.filter(pk__gt=seen) if seen is not None else unseen.none()
    first_unseen = unseen.order_by("created_at", "pk").first()
    thread.status = ThreadStatus.AWAITING_BANK if first_unseen else ThreadStatus.AWAITING_CUSTOMER
    thread.waiting_since = first_unseen.created_at if first_unseen else None
    thread.last_message_at = now
    thread.closed_at = None
    thread.save(update_fields=["status", "waiting_since", "last_message_at", "closed_at"])
    answered = Draft.objects.filter(
        thread=thread, status__in=[DraftStatus.READY, DraftStatus.PENDING]
    )
    if draft is not None:
        answered = answered.exclude(pk=draft.pk)
    if seen is not None:
        answered = answered.filter(message_id__lte=seen)
    answered.update(status=DraftStatus.SUPERSEDED, decided_at=now)


def auto_send_refusal(draft: Draft) -> str:
    """Why ``draft`` may not go to the customer without a person ("" when it may): the bank
    lists its thread's category; it is ready and cites sources, every one in a collection
    that is customer-facing now; it proposes no form (a form needs an agent's binding); the
    customer's words ask for nothing that needs a person whatever the category the customer
    chose (fraud, a complaint, a dispute: ``matching.needs_a_person``); it was written by
    the extractive answerer (sentences quoted from the sources), unless the bank also
    allows model drafts (``SECURE_AUTO_SEND_MODEL_DRAFTS``: the customer's words can steer a
    model); it is valid message text; the thread is open and the customer not erased."""
    thread = draft.thread
    if thread.category not in settings.SECURE_AUTO_SEND_CATEGORIES:
        return "category"
    if draft.status != DraftStatus.READY:
        return "status"
    if draft.confidence != "sources" or not draft.citations:
        return "no_sources"
    if draft.form_proposal.get("form"):
        return "form"
    if needs_a_person(draft.message.body):
        return "needs_a_person"
    if draft.model_name != EXTRACTIVE_MODEL and not settings.SECURE_AUTO_SEND_MODEL_DRAFTS:
        return "model"
    facing = customer_facing_collection_slugs()
    if not draft.source_collections or not set(draft.source_collections) <= facing:
        return "not_customer_facing"
    try:
        _clean_body(draft.body)
    except ValidationError:
        return "invalid_text"
    if thread.status == ThreadStatus.CLOSED or thread.customer.erased_at is not None:
        return "thread"
    return ""


def draft_auto_send(draft_id: int) -> SecureMessage | None:
    """Send the ready draft ``draft_id`` to the customer without a person's approval, where
    the bank allows it (``auto_send_refusal``; off unless SECURE_AUTO_SEND_CATEGORIES lists
    categories). The reply is marked as sent automatically; a sample
    (SECURE_AUTO_SEND_REVIEW_PERCENT) waits for a supervisor's review. None: not sent.
    Locks the thread, then the draft, as an agent's reply does (no deadlock between them)."""
    if not settings.SECURE_AUTO_SEND_CATEGORIES:
        return None
    thread_id = Draft.objects.filter(pk=draft_id).values_list("thread_id", flat=True).first()
    if thread_id is None:
        return None
    with transaction.atomic():
        thread = (
            Thread.objects.select_for_update(of=("self",))
            .select_related("customer")
            .get(pk=thread_id)
        )
        draft = (
            Draft.objects.select_for_update(of=("self",))
            .select_related("message")
            .filter(pk=draft_id)
            .first()
        )
        if draft is None or draft.status != DraftStatus.READY:
            return None  # sent, discarded or superseded meanwhile (or a redelivered task)
        draft.thread = thread
        refusal = auto_send_refusal(draft)
        if refusal:
            if refusal != "category":
                audit_event_record(
                    action="messaging.auto_send_declined",
                    actor_username="assistant",
                    target=draft,
                    details={"thread": thread.pk, "reason": refusal},
                )
            return None
        sampled = secrets.randbelow(100) < settings.SECURE_AUTO_SEND_REVIEW_PERCENT
        message = SecureMessage.objects.create(
            thread=thread,
            author_kind=Author.STAFF,
            author=None,
            body=draft.body.strip(),
            draft=draft,
            auto_sent=True,
            review=SampleReview.PENDING if sampled else SampleReview.NONE,
        )
        _replied(thread, message, draft, draft.message_id)
        draft.status = DraftStatus.SENT
        draft.decided_at = timezone.now()
        draft.save(update_fields=["status", "decided_at"])
        audit_event_record(
            action="messaging.reply_auto_sent",
            actor_username="assistant",
            target=message,
            details={
                "thread": thread.pk,
                "draft": draft.pk,
                "category": thread.category,
                "collections": draft.source_collections,
                "cited_chunk_ids": [c["chunk_id"] for c in draft.citations],
                "sampled_for_review": sampled,
            },
        )
        _notify_customer(thread)
        return message


@transaction.atomic
def auto_reply_review(
    *, user: AnyUser, message: SecureMessage, verdict: str, note: str = ""
) -> SecureMessage:
    """A supervisor of the thread's region reviews an automatically sent reply picked for
    review: ``fine``, or ``concern`` with a note saying what was wrong."""
    thread = _handled_thread(user, message.thread)
    if not can(user, Action.MANAGE_HANDOFFS):
        raise PermissionDenied("Only a supervisor reviews automatic replies.")
    row = SecureMessage.objects.select_for_update().filter(pk=message.pk, thread=thread).first()
    if row is None or not row.auto_sent or row.review != SampleReview.PENDING:
        raise ValidationError({"review": "This reply is not waiting for a review."})
    if verdict not in (SampleReview.FINE, SampleReview.CONCERN):
        raise ValidationError({"verdict": "Choose fine or concern."})
    note = (note or "").strip()
    if verdict == SampleReview.CONCERN and not note:
        raise ValidationError({"note": "Say what is wrong with the reply."})
    if note:
        note = _clean_body(note, "note")
    row.review = verdict
    row.reviewed_by = _account(user)
    row.reviewed_at = timezone.now()
    row.review_note = note
    row.save(update_fields=["review", "reviewed_by", "reviewed_at", "review_note"])
    audit_event_record(
        action="messaging.auto_reply_reviewed",
        actor=user,
        target=row,
        details={"thread": thread.pk, "verdict": verdict, "noted": bool(note)},
    )
    return row


@transaction.atomic
def note_add(*, user: AnyUser, thread: Thread, body: str) -> SecureMessage:
    """An internal note between staff on ``thread``: never shown to the customer."""
    thread = _handled_thread(user, thread)
    message = SecureMessage.objects.create(
        thread=thread,
        author_kind=Author.STAFF,
        author=_account(user),
        body=_clean_body(body),
        internal=True,
    )
    audit_event_record(
        action="messaging.note_added", actor=user, target=message, details={"thread": thread.pk}
    )
    return message


@transaction.atomic
def thread_assign(*, user: AnyUser, thread: Thread, assignee: User | None) -> Thread:
    """Give ``thread`` to ``assignee`` (None: to nobody); they must handle its region."""
    thread = _handled_thread(user, thread)
    if assignee is not None and not (
        handles_threads(assignee) and threads_visible_to(assignee).filter(pk=thread.pk).exists()
    ):
        raise ValidationError({"assignee": "This person does not handle this customer's region."})
    before = thread.assignee_id
    thread.assignee = assignee
    thread.save(update_fields=["assignee"])
    audit_event_record(
        action="messaging.thread_assigned",
        actor=user,
        target=thread,
        details={"from": before, "to": assignee.pk if assignee else None},
    )
    return thread


@transaction.atomic
def thread_close(*, user: AnyUser, thread: Thread) -> Thread:
    """Staff close ``thread`` (a customer who writes again reopens it)."""
    thread = _handled_thread(user, thread)
    if thread.status == ThreadStatus.CLOSED:
        return thread
    thread.status = ThreadStatus.CLOSED
    thread.closed_at = timezone.now()
    thread.waiting_since = None  # closed: nothing is owed any more
    thread.save(update_fields=["status", "closed_at", "waiting_since"])
    audit_event_record(action="messaging.thread_closed", actor=user, target=thread)
    return thread


@transaction.atomic
def message_retract(*, user: AnyUser, message: SecureMessage) -> SecureMessage:
    """Withdraw a reply the customer has not read yet: its author, or a supervisor."""
    thread = _handled_thread(user, message.thread)
    row = SecureMessage.objects.filter(pk=message.pk, thread=thread).first()
    if row is None or row.author_kind != Author.STAFF or row.internal:
        raise ValidationError({"message": "Only a reply to the customer can be withdrawn."})
    if row.author_id != user.pk and not can(user, Action.MANAGE_HANDOFFS):
        raise PermissionDenied("Only its author or a supervisor withdraws a reply.")
    now = timezone.now()
    # One statement: a customer reading it at the same moment either reads it first (then
    # nothing is withdrawn) or finds it gone.
    changed = SecureMessage.objects.filter(
        pk=row.pk, read_at__isnull=True, retracted_at__isnull=True
    ).update(retracted_at=now, retracted_by=user)
    if not changed:
        raise ValidationError(
            {"message": "The customer has already read this reply (or it was withdrawn)."}
        )
    if row.form_id is not None:
        from forms_app.services.customer_forms import submission_recall_from_customer

        form = row.form
        if form is not None and form.sent_to_customer_at and not form.customer_confirmed_at:
            submission_recall_from_customer(actor=user, submission=form)
    _recompute_waiting(thread)  # the customer's question is unanswered again
    audit_event_record(
        action="messaging.reply_retracted", actor=user, target=row, details={"thread": thread.pk}
    )
    row.refresh_from_db()
    return row


def thread_mark_read(*, user: AnyUser, thread: Thread) -> int:
    """Mark the other side's messages of ``thread`` read by ``user``'s side; how many."""
    if not threads_visible_to(user).filter(pk=thread.pk).exists():
        return 0
    if not is_customer(user) and not handles_threads(user):
        return 0
    rows = SecureMessage.objects.filter(
        customer_side(user),
        thread_id=thread.pk,
        read_at__isnull=True,
        retracted_at__isnull=True,
        internal=False,
    )
    count = rows.update(read_at=timezone.now(), read_by=user)
    if count:
        audit_event_record(
            action="messaging.messages_read",
            actor=user,
            target=thread,
            details={"count": count},
        )
    return count


@transaction.atomic
def draft_discard(*, user: AnyUser, draft: Draft) -> Draft:
    thread = _handled_thread(user, draft.thread)
    row = Draft.objects.select_for_update().get(pk=draft.pk, thread=thread)
    if row.status not in (DraftStatus.READY, DraftStatus.FAILED, DraftStatus.PENDING):
        raise ValidationError({"draft": "This draft was already decided."})
    row.status = DraftStatus.DISCARDED
    row.decided_by = user if isinstance(user, User) else None
    row.decided_at = timezone.now()
    row.save(update_fields=["status", "decided_by", "decided_at"])
    audit_event_record(
        action="messaging.draft_discarded", actor=user, target=row, details={"thread": thread.pk}
    )
    return row


def threads_close_inactive() -> int:
    """Close threads without a message for ``SECURE_THREAD_CLOSE_DAYS`` that wait for
    nothing from the bank (an unanswered customer message keeps its thread open)."""
    cutoff = timezone.now() - timedelta(days=settings.SECURE_THREAD_CLOSE_DAYS)
    rows = Thread.objects.filter(last_message_at__lt=cutoff, waiting_since__isnull=True).exclude(
        status=ThreadStatus.CLOSED
    )
    ids = list(rows.values_list("pk", flat=True)[:1000])
    if not ids:
        return 0
    with transaction.atomic():
        # The conditions again: a customer message written since the ids were read keeps
        # its thread open.
        closing = rows.filter(pk__in=ids)
        ids = list(closing.values_list("pk", flat=True))
        count = closing.update(status=ThreadStatus.CLOSED, closed_at=timezone.now())
        audit_event_record(
            action="messaging.threads_closed_inactive",
            actor_username="system",
            details={"threads": ids, "days": settings.SECURE_THREAD_CLOSE_DAYS},
        )
    return count
