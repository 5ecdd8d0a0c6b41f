"""Smart forms in the portal shell: navigation, dashboard, the customer page, demo data."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from forms_app.selectors import (
    SUBMISSION_COLUMNS,
    submission_decisions_recent,
    submission_records,
    submissions_for_customer,
)
from forms_app.services.submissions import (
    ERASURE_CLASSES,
    submissions_erase,
    submissions_erasure_blockers,
    submissions_expired,
    submissions_purge,
    submissions_return_of_leaver,
)
from portal.permissions import Action, Role
from portal.registry import (
    CUSTOMER_DETAIL,
    DASHBOARD,
    DeactivationStep,
    DemoSeeder,
    ErasureStep,
    MenuItem,
    ModelGrant,
    Panel,
    RecordSource,
    RetentionClass,
    register_deactivation_step,
    register_demo_seeder,
    register_erasure_step,
    register_menu_item,
    register_model_grant,
    register_panel,
    register_record_source,
    register_retention_class,
)

RECENT_DECISIONS = 5
CUSTOMER_SUBMISSIONS = 20


def register() -> None:
    register_deactivation_step(DeactivationStep("forms_app.reviews", submissions_return_of_leaver))
    register_erasure_step(
        ErasureStep(
            "forms_app.submissions",
            submissions_erasure_blockers,
            submissions_erase,
            ERASURE_CLASSES,
            order=20,
        )
    )
    register_retention_class(
        RetentionClass(
            "submissions",
            "Decided, withdrawn or abandoned submissions, with history and files",
            submissions_purge,
            lambda cutoff, holds: submissions_expired(cutoff, holds).count(),
            ("submission", "user", "customer"),
            order=20,
        )
    )
    register_record_source(
        RecordSource(
            "submissions",
            "Submissions with their history",
            SUBMISSION_COLUMNS,
            submission_records,
            order=20,
        )
    )
    # The admin's form-definition pages for content managers (migration 0005; re-applied
    # after every migrate and flush by portal.services.role_groups_ensure).
    for model, actions in (
        ("formdefinition", ("view", "add", "change")),
        ("formfield", ("view", "add", "change", "delete")),
    ):
        register_model_grant(ModelGrant(Role.CONTENT_MANAGER, "forms_app", model, actions))
    register_menu_item(
        MenuItem(
            "Forms",
            "forms_app:form_list",
            Action.FILL_FORMS,
            order=50,
            card_title="Smart forms",
            description="Card disputes, address changes, referrals and closures.",
        )
    )
    register_menu_item(
        MenuItem(
            "Reviews",
            "forms_app:review_queue",
            Action.REVIEW_FORMS,
            order=60,
            description="Approve or reject submitted forms.",
        )
    )
    register_panel(
        Panel(
            "forms_app.decisions",
            DASHBOARD,
            "forms_app/_dashboard_decisions.html",
            _decisions,
            order=30,
        )
    )
    register_panel(
        Panel(
            "forms_app.customer_submissions",
            CUSTOMER_DETAIL,
            "forms_app/_customer_submissions.html",
            _customer_submissions,
        )
    )
    register_demo_seeder(DemoSeeder("forms", _seed, order=30))


def _decisions(request: HttpRequest) -> dict[str, Any] | None:
    """Decisions on the user's own submissions; nothing shown when there are none."""
    decisions = submission_decisions_recent(request.user, limit=RECENT_DECISIONS)
    return {"recent_decisions": decisions} if decisions else None


def _customer_submissions(request: HttpRequest, customer: Any) -> dict[str, Any]:
    """Submissions about the customer that the forms policy lets the user see."""
    return {"submissions": submissions_for_customer(request.user, customer)[:CUSTOMER_SUBMISSIONS]}


def _seed() -> str:
    from forms_app.demo import seed_forms

    return f"{seed_forms()} new demo forms published"
