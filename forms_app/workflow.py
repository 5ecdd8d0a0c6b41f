"""The submission workflow, written once: one row per transition of a form submission.

Each ``Transition`` says where it may start, where it ends, who may take it (a permission
primitive of ``forms_app.permissions``), whether it takes a comment, what it records, and
how the portal and the API present it. Everything else is driven by ``TRANSITIONS``:

- the service ``forms_app.services.submissions.submission_transition`` (permission and
  status checks, the comment rule, the history row, the audit event);
- the portal: ``/forms/submissions/<id>/<name>/`` and the buttons of the submission page;
- the API: ``/api/v1/submissions/<id>/<slug>/`` (URL name ``submission_<name>``), one
  operation per transition in the OpenAPI schema.

Adding a transition is one row here. This module imports no view and no API code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from forms_app.models import FormSubmission, SubmissionStatus
from forms_app.permissions import can_edit_submission, can_review_submission
from portal.types import AnyUser

CommentRule = Literal["none", "optional", "required"]
Stamp = Literal["", "submitted_at", "decided_at"]


@dataclass(frozen=True)
class Party:
    """Who may take a transition: a permission primitive, and what a refused person hears."""

    name: str
    may: Callable[[AnyUser, FormSubmission], bool]
    refused: str
    # Said instead to the person who filled the submission (nobody reviews their own).
    refused_own: str = ""

    def refusal(self, user: AnyUser, submission: FormSubmission) -> str:
        if self.refused_own and submission.submitted_by_id == getattr(user, "pk", None):
            return self.refused_own
        return self.refused


OWNER = Party(
    "owner",
    can_edit_submission,
    refused="Only the person who filled this form may do that.",
)
REVIEWER = Party(
    "reviewer",
    can_review_submission,
    refused="You may not review this submission.",
    refused_own="You cannot review your own submission.",
)


@dataclass(frozen=True)
class Transition:
    """One step of the workflow: ``sources`` -> ``target``, taken by ``who``."""

    name: str  # the service's name and the portal URL part: "start_review"
    sources: frozenset[SubmissionStatus]
    target: SubmissionStatus
    who: Party
    past_tense: str  # "... cannot be <past_tense> (only one that is ...)"
    event: str  # the audit event is form_submission.<event>
    label: str  # the button
    api_summary: str  # the OpenAPI operation's summary
    api_description: str = ""  # the operation's description; "" keeps the view's docstring
    comment: CommentRule = "none"  # a comment is stored as the decision comment
    complete: bool = False  # every required value is checked first
    stamp: Stamp = ""  # a timestamp field set to now
    records_reviewer: bool = False  # the actor becomes the submission's reviewer
    button_class: str = "btn-primary"
    # False where the page offers it elsewhere (submit is the draft form's own button).
    action_button: bool = True

    @property
    def slug(self) -> str:
        """The API URL part: ``start-review``."""
        return self.name.replace("_", "-")

    @property
    def takes_comment(self) -> bool:
        return self.comment != "none"

    @property
    def requires_comment(self) -> bool:
        return self.comment == "required"

    def may(self, user: AnyUser, submission: FormSubmission) -> bool:
        """Whether ``user`` is the kind of person this transition needs (status aside)."""
        return self.who.may(user, submission)

    def starts_from(self, status: str) -> bool:
        return status in self.sources


_DECIDABLE = frozenset({SubmissionStatus.SUBMITTED, SubmissionStatus.IN_REVIEW})

TRANSITIONS: dict[str, Transition] = {
    row.name: row
    for row in (
        Transition(
            name="submit",
            sources=frozenset({SubmissionStatus.DRAFT}),
            target=SubmissionStatus.SUBMITTED,
            who=OWNER,
            past_tense="submitted",
            event="submitted",
            label="Submit",
            api_summary="Submit a draft",
            complete=True,
            stamp="submitted_at",
            action_button=False,
        ),
        Transition(
            name="start_review",
            sources=frozenset({SubmissionStatus.SUBMITTED}),
            target=SubmissionStatus.IN_REVIEW,
            who=REVIEWER,
            past_tense="taken into review",
            event="review_started",
            label="Start review",
            api_summary="Start reviewing a submission",
            records_reviewer=True,
        ),
        Transition(
            name="approve",
            sources=_DECIDABLE,
            target=SubmissionStatus.APPROVED,
            who=REVIEWER,
            past_tense="approved",
            event="approved",
            label="Approve",
            api_summary="Approve a submission",
            comment="optional",
            stamp="decided_at",
            records_reviewer=True,
            button_class="btn-success",
        ),
        Transition(
            name="reject",
            sources=_DECIDABLE,
            target=SubmissionStatus.REJECTED,
            who=REVIEWER,
            past_tense="rejected",
            event="rejected",
            label="Reject",
            api_summary="Reject a submission (comment required)",
            comment="required",
            stamp="decided_at",
            records_reviewer=True,
            button_class="btn-danger",
        ),
        Transition(
            name="withdraw",
            sources=frozenset({SubmissionStatus.DRAFT, SubmissionStatus.SUBMITTED}),
            target=SubmissionStatus.WITHDRAWN,
            who=OWNER,
            past_tense="withdrawn",
            event="withdrawn",
            label="Withdraw",
            api_summary="Withdraw a draft or submission",
            button_class="btn-outline-danger",
        ),
    )
}


def transition_get(name: str) -> Transition:
    """The transition called ``name``; ``KeyError`` when there is none."""
    if name not in TRANSITIONS:
        raise KeyError(f"No transition {name!r}.")
    return TRANSITIONS[name]


def transitions_allowed(user: AnyUser, submission: FormSubmission) -> list[Transition]:
    """The transitions ``user`` may take on ``submission`` now (for buttons), in table order."""
    return [
        row
        for row in TRANSITIONS.values()
        if row.starts_from(submission.status) and row.may(user, submission)
    ]
