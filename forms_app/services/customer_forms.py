"""Forms sent to customers: a member of staff prepares a draft (pre-filled from the records
they may see) and sends it; the customer corrects or completes it and confirms, and it
enters the review workflow with the customer as its submitter. What the customer changed is
measured against the values as sent (``customer_prefill``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction as db_transaction
from django.utils import timezone

from forms_app.models import FieldType, FormSubmission, SubmissionStatus
from forms_app.permissions import can_edit_submission, submissions_sent_to
from forms_app.services.submissions import _clean, _event, _locked
from portal.services import audit_event_record
from portal.types import AnyUser, account_of

ALREADY = "This form was already confirmed."
REAUTHENTICATE = "Enter your password again to confirm this form."


@db_transaction.atomic
def submission_send_to_customer(*, actor: AnyUser, submission: FormSubmission) -> FormSubmission:
    """Send ``actor``'s draft to its customer (once): they see it in their secure messages."""
    submission = _locked(submission)
    if not can_edit_submission(actor, submission):
        raise PermissionDenied("Only the person who filled this form may send it.")
    if submission.status != SubmissionStatus.DRAFT or submission.sent_to_customer_at:
        raise ValidationError("Only a draft not sent yet can be sent to the customer.")
    submission.prepared_by = account_of(actor)
    submission.sent_to_customer_at = timezone.now()
    submission.customer_prefill = dict(submission.data)
    submission.save(update_fields=["prepared_by", "sent_to_customer_at", "customer_prefill"])
    audit_event_record(
        action="form_submission.sent_to_customer",
        actor=actor,
        target=submission,
        details={"form": submission.definition.slug, "customer_id": submission.customer_id},
    )
    return submission


def customer_changes(submission: FormSubmission) -> list[dict[str, Any]]:
    """The fields whose value differs from the value sent to the customer:
    ``[{key, label, sent, now}]`` in the form's order (staff see them on the submission)."""
    if not submission.sent_to_customer_at:
        return []
    sent = submission.customer_prefill or {}
    changes = []
    for spec in submission.definition.fields.order_by("order", "pk"):
        before, after = sent.get(spec.key), (submission.data or {}).get(spec.key)
        if before in (None, "") and after in (None, ""):
            continue
        if before != after:
            changes.append({"key": spec.key, "label": spec.label, "sent": before, "now": after})
    return changes


@db_transaction.atomic
def submission_confirm_by_customer(
    *,
    user: AnyUser,
    submission: FormSubmission,
    data: Mapping[str, Any],
    reauthenticated: bool = False,
) -> FormSubmission:
    """The customer confirms a form sent to them, with their corrections: validated as a
    complete form, then submitted for review with the customer as submitter. The transaction
    (and any other record binding) stays the one the bank sent. A high-risk form
    (``customer_reauthentication``) needs ``reauthenticated``: the caller checked the
    customer's password again just now."""
    if not submissions_sent_to(user).filter(pk=submission.pk).exists():
        raise FormSubmission.DoesNotExist("No such form.")
    submission = _locked(submission)
    if submission.customer_confirmed_at or submission.status != SubmissionStatus.DRAFT:
        raise ValidationError(ALREADY)
    if submission.definition.customer_reauthentication and not reauthenticated:
        raise ValidationError({"password": REAUTHENTICATE})
    specs = {spec.key: spec for spec in submission.definition.fields.all()}
    merged = {key: value for key, value in data.items() if key in specs}
    for key, spec in specs.items():
        fixed = spec.type in (FieldType.TRANSACTION_PICKER, FieldType.FILE)
        if fixed:  # what the customer may not change: the bank's binding, files
            merged.pop(key, None)
        if (fixed or key not in merged) and key in submission.data:
            merged[key] = submission.data[key]
    unknown = sorted(set(data) - set(specs))
    if unknown:
        raise ValidationError({key: "Not a field of this form." for key in unknown})
    preparer = submission.prepared_by or submission.submitted_by
    cleaned = _clean(preparer, submission, merged, complete=True)
    sent = submission.customer_prefill or {}
    provenance = dict(submission.provenance or {})
    changed = []
    for key, value in cleaned.items():
        if value != sent.get(key):
            provenance[key] = {"source": "customer"}
            changed.append(key)
    submission.data = cleaned
    submission.provenance = provenance
    submission.customer_confirmed_at = timezone.now()
    customer_account = account_of(user)
    if customer_account is None:
        raise PermissionDenied("Sign in first.")
    submission.submitted_by = customer_account
    submission.status = SubmissionStatus.SUBMITTED
    submission.submitted_at = submission.customer_confirmed_at
    submission.full_clean()
    submission.save()
    _event(
        submission=submission, actor=user, from_status=SubmissionStatus.DRAFT, action="submitted"
    )
    audit_event_record(
        action="form_submission.confirmed_by_customer",
        actor=user,
        target=submission,
        details={
            "form": submission.definition.slug,
            "changed_fields": changed,
            "reauthenticated": reauthenticated,
        },
    )
    return submission


@db_transaction.atomic
def submission_recall_from_customer(
    *, actor: AnyUser, submission: FormSubmission
) -> FormSubmission:
    """Take back a form sent to the customer and not confirmed yet (its reply was
    withdrawn): the customer no longer sees it; it is the preparer's draft again."""
    submission = _locked(submission)
    if submission.customer_confirmed_at or not submission.sent_to_customer_at:
        raise ValidationError("Only a form waiting for the customer can be taken back.")
    submission.sent_to_customer_at = None
    submission.customer_prefill = {}
    submission.save(update_fields=["sent_to_customer_at", "customer_prefill"])
    audit_event_record(
        action="form_submission.recalled_from_customer",
        actor=actor,
        target=submission,
        details={"form": submission.definition.slug, "customer_id": submission.customer_id},
    )
    return submission
