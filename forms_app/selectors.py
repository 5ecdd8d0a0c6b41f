"""Reads of form definitions and submissions, always starting from what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from forms_app.models import FormDefinition, FormField, FormSubmission, SubmissionStatus
from forms_app.permissions import (
    can_manage_definitions,
    definitions_fillable_by,
    submissions_owned_by,
    submissions_reviewable_by,
    submissions_visible_to,
)
from portal.types import AnyUser, account_of


def _with_fields(queryset: QuerySet[FormDefinition]) -> QuerySet[FormDefinition]:
    return queryset.prefetch_related(
        Prefetch("fields", queryset=FormField.objects.order_by("order", "pk"))
    )


def definition_list(user: AnyUser) -> QuerySet[FormDefinition]:
    """The current definitions ``user`` may fill, by title."""
    return definitions_fillable_by(user).order_by("title", "slug")


def definition_get(user: AnyUser, slug: str) -> FormDefinition:
    """The current version of ``slug`` for filling; DoesNotExist when missing or not allowed."""
    return _with_fields(definitions_fillable_by(user)).get(slug=slug)


def definition_get_for_preview(
    user: AnyUser, slug: str, version: int | None = None
) -> FormDefinition:
    """Any version of ``slug`` (default: the highest) for definition managers only."""
    if not can_manage_definitions(user):
        raise FormDefinition.DoesNotExist
    versions = _with_fields(FormDefinition.objects.filter(slug=slug))
    if version is not None:
        return versions.get(version=version)
    found = versions.order_by("-version").first()
    if found is None:
        raise FormDefinition.DoesNotExist
    return found


# Submissions ---------------------------------------------------------------------------


def _submission_rows(queryset: QuerySet[FormSubmission]) -> QuerySet[FormSubmission]:
    return queryset.select_related(
        "definition", "customer", "customer__region", "submitted_by", "reviewer"
    )


def submission_list_mine(user: AnyUser) -> QuerySet[FormSubmission]:
    """``user``'s drafts and submissions, most recently changed first."""
    return _submission_rows(submissions_owned_by(user)).order_by("-updated_at", "-pk")


def submission_decisions_recent(user: AnyUser, limit: int = 5) -> list[FormSubmission]:
    """``user``'s submissions that were approved or rejected, newest decision first."""
    decided = submissions_owned_by(user).filter(
        status__in=[SubmissionStatus.APPROVED, SubmissionStatus.REJECTED]
    )
    return list(_submission_rows(decided).order_by("-decided_at", "-pk")[: max(limit, 0)])


def review_queue(user: AnyUser) -> QuerySet[FormSubmission]:
    """Submitted and in-review forms ``user`` may review (review roles and region, in SQL),
    oldest first; their own submissions are left out."""
    waiting = submissions_reviewable_by(user).filter(
        status__in=[SubmissionStatus.SUBMITTED, SubmissionStatus.IN_REVIEW]
    )
    return _submission_rows(waiting.exclude(submitted_by=account_of(user))).order_by(
        "submitted_at", "pk"
    )


def submissions_for_customer(user: AnyUser, customer: Any) -> QuerySet[FormSubmission]:
    """The submissions about ``customer`` that ``user`` owns or may review, newest first."""
    rows = submissions_visible_to(user).filter(customer=customer)
    return _submission_rows(rows).order_by("-updated_at", "-pk")


def submission_get(user: AnyUser, submission_id: int) -> FormSubmission:
    """One submission ``user`` owns or may review; DoesNotExist otherwise."""
    return _submission_rows(submissions_visible_to(user)).get(pk=submission_id)


def submission_data_for(user: AnyUser, submission: FormSubmission) -> dict[str, Any]:
    """The submission's values as ``user`` may see them.

    A value bound to a sensitive customer-record field (tax id, date of birth, account
    number) is masked or hidden per the viewer's field visibility, whoever entered it: a
    supervisor reviewing a compliance officer's form sees ``***-**-1234``, not the tax id.
    """
    return values_for(user, submission, submission.data)


def values_for(user: AnyUser, submission: FormSubmission, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (of the submission's fields) as ``user`` may see them (see above)."""
    from knowledge.customers.masking import MASKERS, visible_value

    data = dict(values)
    for spec in submission.definition.fields.all():
        field = spec.binding.rsplit(".", 1)[-1] if spec.binding else ""
        if field in MASKERS and data.get(spec.key) not in (None, ""):
            data[spec.key] = visible_value(user, field, str(data[spec.key]))[0]
    return data


# --- records for an export (portal.records.export, through the registry) ----------------

SUBMISSION_COLUMNS = (
    "id",
    "form",
    "version",
    "customer_id",
    "status",
    "submitted_by",
    "reviewer",
    "created_at",
    "submitted_at",
    "decided_at",
    "decision_comment",
    "data",
    "provenance",
    "history",
)


def submission_records(selection: Any) -> Any:
    """Every submission of ``selection`` (a ``portal.registry.RecordFilter``: created in its
    period, submitted or reviewed by its user, of its customer) with its data, provenance
    and history. For the export only: the export's caller must read the audit trail."""
    submissions = FormSubmission.objects.select_related(
        "definition", "submitted_by", "reviewer"
    ).order_by("pk")
    submissions = selection.in_period(submissions)
    if selection.user_id:
        submissions = submissions.filter(
            Q(submitted_by_id=selection.user_id) | Q(reviewer_id=selection.user_id)
        )
    if selection.customer_id:
        submissions = submissions.filter(customer_id=selection.customer_id)
    for submission in submissions.iterator(chunk_size=200):
        history = [
            {
                "from": event.from_status,
                "to": event.to_status,
                "actor": event.actor.get_username(),
                "comment": event.comment,
                "at": event.at.isoformat(),
            }
            for event in submission.events.select_related("actor").order_by("at", "pk")
        ]
        yield {
            "id": submission.pk,
            "form": submission.definition.slug,
            "version": submission.definition.version,
            "customer_id": submission.customer_id,
            "status": submission.status,
            "submitted_by": submission.submitted_by.get_username(),
            "reviewer": submission.reviewer.get_username() if submission.reviewer else "",
            "created_at": submission.created_at.isoformat(),
            "submitted_at": submission.submitted_at.isoformat() if submission.submitted_at else "",
            "decided_at": submission.decided_at.isoformat() if submission.decided_at else "",
            "decision_comment": submission.decision_comment,
            "data": submission.data,
            "provenance": submission.provenance,
            "history": history,
        }


def submission_sent_get(user: AnyUser, submission_id: int) -> FormSubmission:
    """A form sent to ``user``, a customer (``DoesNotExist`` otherwise)."""
    from forms_app.permissions import submissions_sent_to

    submission: FormSubmission = (
        submissions_sent_to(user)
        .select_related("definition", "transaction", "account")
        .get(pk=submission_id)
    )
    return submission


def submission_data_for_customer(submission: FormSubmission) -> dict[str, Any]:
    """The values of a form sent to a customer as the customer sees their own record: the
    fields bound to ``CUSTOMER_MASKED_FIELDS`` masked."""
    from django.conf import settings

    from knowledge.customers.masking import MASKERS

    data = dict(submission.data)
    for spec in submission.definition.fields.all():
        field = spec.binding.rsplit(".", 1)[-1] if spec.binding else ""
        masked = field in MASKERS and field in settings.CUSTOMER_MASKED_FIELDS
        if masked and data.get(spec.key) not in (None, ""):
            data[spec.key] = MASKERS[field](str(data[spec.key]))
    return data
