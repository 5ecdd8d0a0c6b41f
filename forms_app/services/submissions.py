"""The submission workflow: drafts, then the transitions of ``forms_app.workflow``; audited.

Data can change only while a submission is a draft. Provenance is always derived on the
server (a value equal to the customer-record value the person may see keeps the record as
its source; anything else is ``{"source": "user"}``), so a client cannot forge it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction as db_transaction
from django.db.models import Q
from django.utils import timezone

from forms_app.forms import DefinitionForm, build_form_class, checked_upload_type, condition_met
from forms_app.models import (
    FieldType,
    FormDefinition,
    FormSubmission,
    SubmissionAttachment,
    SubmissionEvent,
    SubmissionStatus,
)
from forms_app.permissions import can_edit_submission, can_fill_definition
from forms_app.services.prefill import prefill_values, to_json_value
from forms_app.workflow import Transition, transition_get
from knowledge.customers.selectors import customer_records_get, customer_transactions
from portal.crypto import ERASED
from portal.records.retention import delete_files_on_commit
from portal.services import audit_event_record
from portal.types import AnyUser, User, account_of
from portal.validation import upload_filename

if TYPE_CHECKING:  # annotations only: customer rows come from knowledge's selectors
    from knowledge.customers.models import Account, Customer, Transaction

REQUIRED_MESSAGE = "This field is required."
TRANSACTION_CHOICES_LIMIT = 50


def transaction_choices(
    user: AnyUser, customer: Customer, account: Account | None = None
) -> list[tuple[str, str]]:
    """Recent transactions of ``customer`` (of ``account`` when given) for a picker."""
    rows = customer_transactions(user, customer, TRANSACTION_CHOICES_LIMIT)
    return [
        (str(row.id), f"{row.posted_date:%Y-%m-%d} · {row.merchant} · {row.amount} {row.currency}")
        for row in rows
        if account is None or row.account_id == account.pk
    ]


def picker_choices(
    user: AnyUser, customer: Customer, account: Account | None, txn: Transaction | None
) -> list[tuple[str, str]]:
    choices = transaction_choices(user, customer, account)
    if txn is not None and str(txn.pk) not in {value for value, _ in choices}:
        choices.append((str(txn.pk), f"{txn.posted_date:%Y-%m-%d} · {txn.merchant} · {txn.amount}"))
    return choices


def bound_form(
    user: AnyUser,
    definition: FormDefinition,
    customer: Customer,
    account: Account | None,
    txn: Transaction | None,
    data: Mapping[str, Any] | None,
) -> DefinitionForm:
    """The definition's form bound to ``data`` (or unbound), with the customer's transactions."""
    form_class = build_form_class(definition)
    return form_class(data, transaction_choices=picker_choices(user, customer, account, txn))


def _is_required_error(error: ValidationError) -> bool:
    return error.code == "required" or REQUIRED_MESSAGE in error.messages


def _clean(
    user: AnyUser, submission: FormSubmission, data: Mapping[str, Any], *, complete: bool
) -> dict[str, Any]:
    """Validate ``data`` with the definition's form; a draft may still miss required values."""
    specs = {spec.key: spec for spec in submission.definition.fields.all()}
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise ValidationError({key: "Not a field of this form." for key in unknown})
    # Files are attached separately (submission_attach_file); the data holds references.
    file_keys = {key for key, spec in specs.items() if spec.type == FieldType.FILE}
    references = {key: data[key] for key in file_keys if data.get(key)}
    for key, reference in references.items():
        if not _attachment_of(submission, key, reference):
            raise ValidationError({key: "Attach the file with the form; this one is unknown."})
    form = bound_form(
        user,
        submission.definition,
        submission.customer,
        submission.account,
        submission.transaction,
        {key: value for key, value in data.items() if key not in file_keys},
    )
    form.is_valid()
    errors: dict[str, list[str]] = {}
    for key, field_errors in form.errors.as_data().items():
        if key in file_keys:
            continue  # judged below, from the references
        kept = [e for e in field_errors if complete or not _is_required_error(e)]
        if kept:
            errors[key] = [message for e in kept for message in e.messages]
    for key in file_keys:
        spec = specs[key]
        shown = not spec.show_when or condition_met(
            spec.show_when, form.cleaned_data.get(spec.show_when.get("field", ""))
        )
        if complete and spec.required and shown and key not in references:
            errors[key] = [REQUIRED_MESSAGE]
    if errors:
        raise ValidationError(errors)
    cleaned = {
        key: to_json_value(value)
        for key, value in form.cleaned_data.items()
        if key in specs and key not in file_keys
    }
    return {**cleaned, **references}


def _attachment_of(submission: FormSubmission, key: str, reference: Any) -> bool:
    if submission.pk is None or not isinstance(reference, dict):
        return False
    attachment_id = reference.get("attachment_id")
    if not isinstance(attachment_id, int):
        return False
    return SubmissionAttachment.objects.filter(
        submission=submission, field_key=key, pk=attachment_id
    ).exists()


def _provenance(
    user: AnyUser,
    submission: FormSubmission,
    data: Mapping[str, Any],
    origins: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Where each value came from: the record (derived here, never trusted from a caller),
    ``origins`` given by server code for values it extracted (the assistant's conversation),
    else the person."""
    record = prefill_values(
        user, submission.definition, submission.customer, submission.account, submission.transaction
    )
    provenance: dict[str, dict[str, Any]] = {}
    for key, item in record.items():
        origin = item["provenance"]
        value = data.get(key)
        empty = value in (None, "", [], False)
        if origin is not None and origin.get("masked") and empty:
            provenance[key] = origin  # left for the person to enter
        elif origin is not None and not origin.get("masked") and value == item["value"]:
            provenance[key] = origin
        elif not empty:
            provenance[key] = dict((origins or {}).get(key) or {"source": "user"})
    return provenance


def _event(
    *, submission: FormSubmission, actor: AnyUser, from_status: str, action: str, comment: str = ""
) -> SubmissionEvent:
    event = SubmissionEvent(
        submission=submission,
        actor=account_of(actor),
        from_status=from_status,
        to_status=submission.status,
        comment=comment,
    )
    event.full_clean()
    event.save()
    audit_event_record(
        action=f"form_submission.{action}",
        actor=actor,
        target=submission,
        details={
            "form": submission.definition.slug,
            "version": submission.definition.version,
            "customer_id": submission.customer_id,
            "from_status": from_status,
            "to_status": submission.status,
            **({"comment": comment} if comment else {}),
        },
    )
    return event


@db_transaction.atomic
def submission_create_draft(
    *,
    actor: AnyUser,
    definition: FormDefinition,
    customer: Customer,
    account: Account | int | None = None,
    transaction: Transaction | int | None = None,
    data: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    origins: Mapping[str, dict[str, Any]] | None = None,
) -> FormSubmission:
    """Start a draft of the current ``definition`` for a customer ``actor`` may see.

    ``provenance`` is accepted for callers that computed a pre-fill, but the stored
    provenance is always derived on the server from the data and the record. ``origins``
    (server code only, never request data) marks values that are not from the record, such
    as values the assistant took from a message: ``{key: {"source": ..., ...}}``.
    """
    del provenance  # derived below; never trusted from the caller
    if not can_fill_definition(actor, definition):
        raise PermissionDenied("You may not fill this form.")
    # The customer must be visible (Customer.DoesNotExist), the rows its own (ValidationError).
    _, account_row, txn_row = customer_records_get(actor, customer, account, transaction)
    submission = FormSubmission(
        definition=definition,
        customer=customer,
        account=account_row,
        transaction=txn_row,
        submitted_by=account_of(actor),
        status=SubmissionStatus.DRAFT,
    )
    submission.data = _clean(actor, submission, data or {}, complete=False)
    submission.provenance = _provenance(actor, submission, submission.data, origins)
    submission.full_clean()
    submission.save()
    _event(submission=submission, actor=actor, from_status="", action="created")
    return submission


def _locked(submission: FormSubmission) -> FormSubmission:
    return (
        FormSubmission.objects.select_for_update(of=("self",))
        .select_related("definition", "customer", "account", "transaction")
        .get(pk=submission.pk)
    )


WITH_CUSTOMER = "This form was sent to the customer: it waits for their confirmation."


def _not_with_customer(submission: FormSubmission) -> None:
    """A draft sent to the customer is theirs to complete: staff no longer change or submit
    it (they may withdraw it)."""
    if submission.sent_to_customer_at and not submission.customer_confirmed_at:
        raise ValidationError(WITH_CUSTOMER)


def _check(actor: AnyUser, submission: FormSubmission, transition: Transition) -> None:
    if transition.name == "submit":
        _not_with_customer(submission)
    if not transition.may(actor, submission):
        raise PermissionDenied(transition.who.refusal(actor, submission))
    if not transition.starts_from(submission.status):
        allowed = " or ".join(sorted(str(s) for s in transition.sources))
        raise ValidationError(
            f"A submission that is {submission.get_status_display().lower()} cannot be "
            f"{transition.past_tense} (only one that is {allowed})."
        )


@db_transaction.atomic
def submission_update_draft(
    *, actor: AnyUser, submission: FormSubmission, data: Mapping[str, Any]
) -> FormSubmission:
    """Replace a draft's data (validated; fields the person changed become ``source: user``)."""
    submission = _locked(submission)
    if not can_edit_submission(actor, submission):
        raise PermissionDenied("Only the person who filled this form may change it.")
    if submission.status != SubmissionStatus.DRAFT:
        raise ValidationError("Only a draft can be changed; this submission is frozen.")
    _not_with_customer(submission)
    kept_files = {
        key: value
        for key, value in submission.data.items()
        if key not in data and isinstance(value, dict) and "attachment_id" in value
    }
    previous_data, previous_provenance = dict(submission.data), dict(submission.provenance or {})
    submission.data = _clean(actor, submission, {**data, **kept_files}, complete=False)
    # A value taken from the conversation keeps that origin until the person changes it.
    kept_origins = {
        key: origin
        for key, origin in previous_provenance.items()
        if origin.get("source") == "conversation"
        and submission.data.get(key) == previous_data.get(key)
    }
    submission.provenance = _provenance(actor, submission, submission.data, kept_origins)
    submission.full_clean()
    submission.save()
    audit_event_record(
        action="form_submission.draft_saved",
        actor=actor,
        target=submission,
        details={"form": submission.definition.slug, "customer_id": submission.customer_id},
    )
    return submission


@db_transaction.atomic
def submission_attach_file(
    *, actor: AnyUser, submission: FormSubmission, key: str, upload: UploadedFile
) -> SubmissionAttachment:
    """Store a file for the draft's file field ``key`` (checked like document uploads)."""
    submission = _locked(submission)
    if not can_edit_submission(actor, submission):
        raise PermissionDenied("Only the person who filled this form may attach files.")
    if submission.status != SubmissionStatus.DRAFT:
        raise ValidationError("Only a draft can be changed; this submission is frozen.")
    _not_with_customer(submission)
    spec = submission.definition.fields.filter(key=key, type=FieldType.FILE).first()
    if spec is None:
        raise ValidationError({key: "Not a file field of this form."})
    try:
        # Served back as the type its content was checked as, never as the client said.
        content_type = checked_upload_type(upload)
    except ValidationError as invalid:
        raise ValidationError({key: invalid.messages}) from invalid
    digest = hashlib.sha256()
    for piece in upload.chunks():
        digest.update(piece)
    upload.seek(0)
    name = upload_filename(upload.name)
    attachment = SubmissionAttachment(
        submission=submission,
        field_key=key,
        original_filename=name,
        content_type=content_type,
        sha256=digest.hexdigest(),
        size_bytes=upload.size or 0,
        uploaded_by=account_of(actor),
    )
    attachment.file.save(name, upload, save=False)
    attachment.full_clean()
    attachment.save()
    submission.data = {**submission.data, key: attachment.as_reference()}
    submission.provenance = {**submission.provenance, key: {"source": "user"}}
    submission.save(update_fields=["data", "provenance", "updated_at"])
    audit_event_record(
        action="form_submission.file_attached",
        actor=actor,
        target=submission,
        details={"field": key, "filename": name, "sha256": attachment.sha256},
    )
    return attachment


@db_transaction.atomic
def submission_transition(
    *, actor: AnyUser, submission: FormSubmission, name: str, comment: str = ""
) -> FormSubmission:
    """Take the transition ``name`` of ``forms_app.workflow.TRANSITIONS``.

    ``PermissionDenied`` when ``actor`` is not who the transition needs, ``ValidationError``
    from a status it does not start from, without a required comment or (submit) with data
    that is not complete. Writes the history row and the audit event
    ``form_submission.<event>``. A comment is kept only by transitions that take one.
    """
    transition = transition_get(name)
    submission = _locked(submission)
    _check(actor, submission, transition)
    comment = (comment or "").strip() if transition.takes_comment else ""
    if transition.requires_comment and not comment:
        raise ValidationError({"comment": f"Say why the submission is {transition.past_tense}."})
    if transition.complete:
        # Every required field, re-validated against the frozen version.
        _clean(actor, submission, submission.data, complete=True)
    previous = submission.status
    submission.status = transition.target
    if transition.records_reviewer:
        submission.reviewer = cast(User, actor)  # signed in: a reviewer passed _check
    if transition.takes_comment:
        submission.decision_comment = comment
    if transition.stamp:
        setattr(submission, transition.stamp, timezone.now())
    submission.full_clean()
    submission.save()
    _event(
        submission=submission,
        actor=actor,
        from_status=previous,
        action=transition.event,
        comment=comment,
    )
    return submission


# One-line shorthands of submission_transition, for callers that name the step.


def submission_submit(*, actor: AnyUser, submission: FormSubmission) -> FormSubmission:
    return submission_transition(actor=actor, submission=submission, name="submit")


def submission_start_review(*, actor: AnyUser, submission: FormSubmission) -> FormSubmission:
    return submission_transition(actor=actor, submission=submission, name="start_review")


def submission_approve(
    *, actor: AnyUser, submission: FormSubmission, comment: str = ""
) -> FormSubmission:
    return submission_transition(
        actor=actor, submission=submission, name="approve", comment=comment
    )


def submission_reject(
    *, actor: AnyUser, submission: FormSubmission, comment: str
) -> FormSubmission:
    return submission_transition(actor=actor, submission=submission, name="reject", comment=comment)


def submission_withdraw(*, actor: AnyUser, submission: FormSubmission) -> FormSubmission:
    return submission_transition(actor=actor, submission=submission, name="withdraw")


@db_transaction.atomic
def submissions_return_of_leaver(user: User, actor_label: str) -> int:
    """Return the submissions ``user`` had in review to the review queue (``submitted``, no
    reviewer): their account was deactivated. Each gets a history row and the audit event
    ``form_submission.review_returned`` (actor: ``actor_label``, e.g. the provisioning
    client). Returns how many."""
    returned = 0
    for submission in FormSubmission.objects.select_for_update().filter(
        reviewer=user, status=SubmissionStatus.IN_REVIEW
    ):
        submission.status = SubmissionStatus.SUBMITTED
        submission.reviewer = None
        submission.save(update_fields=["status", "reviewer", "updated_at"])
        SubmissionEvent.objects.create(
            submission=submission,
            actor=user,
            from_status=SubmissionStatus.IN_REVIEW,
            to_status=SubmissionStatus.SUBMITTED,
            comment="Returned to the review queue: the reviewer's account was deactivated.",
        )
        audit_event_record(
            action="form_submission.review_returned",
            actor_username=actor_label,
            target=submission,
            details={
                "form": submission.definition.slug,
                "previous_reviewer": user.get_username(),
                "reason": "account_deactivated",
            },
        )
        returned += 1
    return returned


# --- retention (portal.records.retention, through the registry) --------------------------

_CLOSED = (
    SubmissionStatus.APPROVED,
    SubmissionStatus.REJECTED,
    SubmissionStatus.WITHDRAWN,
    SubmissionStatus.DRAFT,
)


def submissions_expired(cutoff: Any, holds: Any) -> Any:
    """Decided, withdrawn or abandoned (draft) submissions untouched since ``cutoff``, none
    under a legal hold (on it, its customer, who filed or reviewed it). Submissions waiting
    for or in review are open work: never purged."""
    return (
        FormSubmission.objects.filter(updated_at__lt=cutoff, status__in=_CLOSED)
        .exclude(pk__in=holds.of("submission"))
        .exclude(customer_id__in=holds.of("customer"))
        .exclude(submitted_by_id__in=holds.of("user"))
        .exclude(reviewer_id__in=holds.of("user"))
    )


def submissions_purge(cutoff: Any, holds: Any, batch: int) -> int:
    """Delete a batch of expired submissions with their history and attached files."""
    rows = list(submissions_expired(cutoff, holds)[:batch])
    attachments = list(SubmissionAttachment.objects.filter(submission__in=rows))
    delete_files_on_commit([attachment.file for attachment in attachments])
    SubmissionAttachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
    FormSubmission.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


# --- erasure of a customer (portal.records.erasure, through the registry) ------------------

ERASURE_CLASSES = {
    "submissions": "Submissions about the customer (their values, decisions and history)",
    "submission_attachments": "Files attached to those submissions",
}
_OPEN = (SubmissionStatus.SUBMITTED, SubmissionStatus.IN_REVIEW)


def submissions_erasure_blockers(customer_id: int, holds: Any) -> list[str]:
    """Submissions about the customer that a hold keeps (on it, or on who filed or reviewed
    it), or that wait for review (open work: decide or withdraw them first)."""
    rows = FormSubmission.objects.filter(customer_id=customer_id)
    reasons = [
        f"Submission #{pk} is under a legal hold (on it, or on who filed or reviewed it)."
        for pk in rows.filter(
            Q(pk__in=holds.of("submission"))
            | Q(submitted_by_id__in=holds.of("user"))
            | Q(reviewer_id__in=holds.of("user"))
        ).values_list("pk", flat=True)
    ]
    reasons += [
        f"Submission #{pk} is waiting for review: decide or withdraw it first."
        for pk in rows.filter(status__in=_OPEN).values_list("pk", flat=True)
    ]
    return reasons


def submissions_erase(customer_id: int) -> dict[str, int]:
    """Overwrite the values, comments and file names of the customer's submissions and
    delete their files (once committed). Statuses, dates and who acted stay."""
    rows = FormSubmission.objects.filter(customer_id=customer_id)
    ids = list(rows.select_for_update(no_key=True).values_list("pk", flat=True))
    attachments = list(SubmissionAttachment.objects.filter(submission_id__in=ids))
    delete_files_on_commit([attachment.file for attachment in attachments if attachment.file])
    SubmissionAttachment.objects.filter(submission_id__in=ids).update(
        original_filename=ERASED, file=""
    )
    SubmissionEvent.objects.filter(submission_id__in=ids).exclude(comment="").update(comment="")
    FormSubmission.objects.filter(pk__in=ids).update(data={}, decision_comment="")
    return {"submissions": len(ids), "submission_attachments": len(attachments)}
