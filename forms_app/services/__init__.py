"""Writes of the forms app: definitions, pre-fill and the submission workflow."""

from forms_app.services.definitions import (
    FIELD_ATTRIBUTES,
    definition_create,
    definition_publish,
    definition_revise,
    definition_validate,
)
from forms_app.services.prefill import prefill
from forms_app.services.submissions import (
    submission_approve,
    submission_attach_file,
    submission_create_draft,
    submission_reject,
    submission_start_review,
    submission_submit,
    submission_transition,
    submission_update_draft,
    submission_withdraw,
)

__all__ = [
    "FIELD_ATTRIBUTES",
    "definition_create",
    "definition_publish",
    "definition_revise",
    "definition_validate",
    "prefill",
    "submission_approve",
    "submission_attach_file",
    "submission_create_draft",
    "submission_reject",
    "submission_start_review",
    "submission_submit",
    "submission_transition",
    "submission_update_draft",
    "submission_withdraw",
]
