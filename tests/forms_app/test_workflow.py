"""The workflow table (forms_app.workflow): consistent, and driving service, pages and API."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.test import Client
from django.urls import resolve, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from forms_app import views
from forms_app.api import urls as api_urls
from forms_app.api.views import SubmissionTransitionApi
from forms_app.models import FormSubmission, SubmissionEvent, SubmissionStatus
from forms_app.selectors import definition_get
from forms_app.services import submission_create_draft, submission_transition
from forms_app.workflow import OWNER, REVIEWER, TRANSITIONS, Transition, transitions_allowed
from knowledge.customers.models import Customer
from portal.models import AuditEvent
from portal.permissions import Role

pytestmark = pytest.mark.django_db

STATUSES = [str(status) for status in SubmissionStatus]
FIELDS = [{"key": "note", "label": "Note", "type": "text"}]


# The table itself ---------------------------------------------------------------------


@pytest.mark.parametrize("row", TRANSITIONS.values(), ids=list(TRANSITIONS))
def test_every_row_is_complete(row: Transition) -> None:
    assert TRANSITIONS[row.name] is row and row.name.isidentifier()
    assert row.sources and row.sources <= set(SubmissionStatus)
    assert row.target in SubmissionStatus and row.target not in row.sources
    assert row.who in (OWNER, REVIEWER)
    assert row.past_tense and row.event and row.label and row.api_summary
    assert row.comment in ("none", "optional", "required")
    if row.stamp:
        assert isinstance(FormSubmission._meta.get_field(row.stamp), models.DateTimeField)


def test_audit_events_and_api_paths_are_unique() -> None:
    rows = list(TRANSITIONS.values())
    assert len({row.event for row in rows}) == len(rows)
    assert len({row.slug for row in rows}) == len(rows)


@pytest.mark.parametrize("row", TRANSITIONS.values(), ids=list(TRANSITIONS))
def test_every_row_has_an_api_route_and_a_page(row: Transition) -> None:
    api = reverse(f"api:submission_{row.name}", kwargs={"pk": 7})
    assert api == f"/api/v1/submissions/7/{row.slug}/"
    match = resolve(api)
    assert match.func.view_class is SubmissionTransitionApi  # type: ignore[attr-defined]
    assert match.func.view_initkwargs == {"transition": row.name}  # type: ignore[attr-defined]
    page = reverse("forms_app:submission_transition", args=[7, row.name])
    assert page == f"/forms/submissions/7/{row.name}/"
    assert resolve(page).func is views.submission_transition


def test_one_api_route_per_row() -> None:
    routes = [
        pattern
        for pattern in api_urls.urlpatterns
        if getattr(pattern.callback, "view_class", None) is SubmissionTransitionApi
    ]
    assert sorted(str(route.name) for route in routes) == sorted(
        f"submission_{name}" for name in TRANSITIONS
    )


def test_schema_lists_one_operation_per_transition() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    transition_paths = {
        path: operations
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/submissions/{id}/") and path.count("/") == 6
    }
    transition_paths.pop("/api/v1/submissions/{id}/files/")
    assert len(transition_paths) == len(TRANSITIONS)
    for row in TRANSITIONS.values():
        operations = transition_paths[f"/api/v1/submissions/{{id}}/{row.slug}/"]
        assert list(operations) == ["post"]
        operation = operations["post"]
        assert operation["operationId"] == f"v1_submissions_{row.name}_create"
        assert operation["summary"] == row.api_summary
        assert operation["tags"] == ["forms"]
        assert ("requestBody" in operation) == row.takes_comment
        body = {"413"} if row.takes_comment else set()  # a request body may be too large
        assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "429", *body}


# The table driving the service ----------------------------------------------------------


@pytest.fixture
def people(regions: dict[str, Any], make_user: Any, make_definition: Any) -> dict[str, Any]:
    north = regions["north"]
    make_definition(FIELDS, slug="workflow-check", publish=True)
    return {
        "owner": make_user("owner", Role.AGENT, regions=[north]),
        "reviewer": make_user("reviewer", Role.SUPERVISOR, regions=[north]),
        "customer": Customer.objects.create(
            customer_number="CUS-WF-0001", full_name="Wanda Flow", region=north
        ),
    }


def _in_status(people: dict[str, Any], status: str) -> FormSubmission:
    """A submission of the owner's, put straight into ``status`` (no transition taken)."""
    owner = people["owner"]
    draft = submission_create_draft(
        actor=owner,
        definition=definition_get(owner, "workflow-check"),
        customer=people["customer"],
        data={"note": "hello"},
    )
    FormSubmission.objects.filter(pk=draft.pk).update(status=status)
    draft.refresh_from_db()
    return draft


def _party(people: dict[str, Any], row: Transition) -> Any:
    return people["owner"] if row.who is OWNER else people["reviewer"]


@pytest.mark.parametrize(
    ("name", "status"), [(name, status) for name in TRANSITIONS for status in STATUSES]
)
def test_each_transition_from_each_status(people: dict[str, Any], name: str, status: str) -> None:
    row = TRANSITIONS[name]
    actor = _party(people, row)
    submission = _in_status(people, status)
    events = SubmissionEvent.objects.filter(submission=submission).count()
    if not row.starts_from(status):
        # A reviewer cannot even see a draft (denied); otherwise a wrong status is invalid.
        with pytest.raises((ValidationError, PermissionDenied)):
            submission_transition(actor=actor, submission=submission, name=name, comment="Why.")
        submission.refresh_from_db()
        assert submission.status == status
        assert SubmissionEvent.objects.filter(submission=submission).count() == events
        return
    done = submission_transition(actor=actor, submission=submission, name=name, comment="Why.")
    assert done.status == row.target
    event = SubmissionEvent.objects.filter(submission=done).last()
    assert event is not None
    kept = "Why." if row.takes_comment else ""
    assert (event.from_status, event.to_status, event.actor, event.comment) == (
        status,
        row.target,
        actor,
        kept,
    )
    assert done.decision_comment == kept
    assert AuditEvent.objects.filter(
        action=f"form_submission.{row.event}", target_id=str(done.pk)
    ).exists()
    assert done.reviewer == (actor if row.records_reviewer else None)
    if row.stamp:
        assert getattr(done, row.stamp) is not None


@pytest.mark.parametrize(
    ("name", "status"),
    [(name, status) for name, row in TRANSITIONS.items() for status in sorted(row.sources)],
)
def test_only_the_rows_party_may_take_it(people: dict[str, Any], name: str, status: str) -> None:
    row = TRANSITIONS[name]
    other = people["reviewer"] if row.who is OWNER else people["owner"]
    submission = _in_status(people, status)
    with pytest.raises(PermissionDenied) as refused:
        submission_transition(actor=other, submission=submission, name=name, comment="Why.")
    assert str(refused.value) == row.who.refusal(other, submission)
    submission.refresh_from_db()
    assert submission.status == status


def test_a_required_comment_is_required(people: dict[str, Any]) -> None:
    for row in TRANSITIONS.values():
        if not row.requires_comment:
            continue
        submission = _in_status(people, sorted(row.sources)[0])
        with pytest.raises(ValidationError) as invalid:
            submission_transition(
                actor=_party(people, row), submission=submission, name=row.name, comment="  "
            )
        assert "comment" in invalid.value.message_dict


def test_unknown_transition(people: dict[str, Any]) -> None:
    submission = _in_status(people, "draft")
    with pytest.raises(KeyError):
        submission_transition(actor=people["owner"], submission=submission, name="teleport")
    client = Client()
    client.force_login(people["owner"])
    assert client.post(f"/forms/submissions/{submission.pk}/teleport/").status_code == 404


# The table driving the pages and the API -----------------------------------------------


@pytest.mark.parametrize("name", list(TRANSITIONS))
def test_each_transition_through_the_api_and_the_page(people: dict[str, Any], name: str) -> None:
    row = TRANSITIONS[name]
    status = sorted(row.sources)[0]
    api = APIClient()
    api.force_authenticate(_party(people, row))
    submission = _in_status(people, status)
    url = reverse(f"api:submission_{name}", kwargs={"pk": submission.pk})
    response = api.post(url, {"comment": "Why."}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == row.target

    page = Client()
    page.force_login(_party(people, row))
    submission = _in_status(people, status)
    posted = page.post(f"/forms/submissions/{submission.pk}/{name}/", {"comment": "Why."})
    assert posted.status_code == 302
    submission.refresh_from_db()
    assert submission.status == row.target


@pytest.mark.parametrize("status", STATUSES)
def test_page_buttons_come_from_the_table(people: dict[str, Any], status: str) -> None:
    submission = _in_status(people, status)
    for who in ("owner", "reviewer"):
        client = Client()
        client.force_login(people[who])
        response = client.get(f"/forms/submissions/{submission.pk}/")
        if response.status_code == 404:  # a reviewer does not see drafts
            assert who == "reviewer" and status == "draft"
            continue
        body = response.content.decode()
        allowed = transitions_allowed(people[who], submission)
        for row in TRANSITIONS.values():
            shown = f'data-transition="{row.name}"' in body
            assert shown == (row in allowed and row.action_button), (who, status, row.name)
            if shown:
                assert row.label in body and row.button_class in body
                assert (f'id="comment-{row.name}"' in body) == row.takes_comment
        assert response.context["can_submit"] == any(row.name == "submit" for row in allowed)
