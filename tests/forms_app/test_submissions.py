"""Pre-fill accuracy, the submission workflow matrix, audit and the submissions API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from rest_framework.test import APIClient

from forms_app.demo import DEMO_FORMS, seed_forms
from forms_app.models import FormDefinition, FormSubmission, SubmissionEvent, SubmissionStatus
from forms_app.selectors import (
    definition_get,
    review_queue,
    submission_decisions_recent,
    submission_get,
    submission_list_mine,
)
from forms_app.services import (
    prefill,
    submission_approve,
    submission_create_draft,
    submission_reject,
    submission_start_review,
    submission_submit,
    submission_update_draft,
    submission_withdraw,
)
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from knowledge.customers.selectors import customer_record_values
from portal.models import AuditEvent
from portal.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(regions: dict[str, Any], make_user: Any) -> dict[str, Any]:
    seed_forms()
    seed_customers(count=30)
    north, south = regions["north"], regions["south"]
    return {
        "agent": make_user("agent", Role.AGENT, regions=[north]),
        "agent2": make_user("agent2", Role.AGENT, regions=[north]),
        "south_agent": make_user("south_agent", Role.AGENT, regions=[south]),
        "supervisor": make_user("supervisor", Role.SUPERVISOR, regions=[north]),
        "south_supervisor": make_user("south_sup", Role.SUPERVISOR, regions=[south]),
        "compliance": make_user("compliance", Role.COMPLIANCE),
        "content_manager": make_user("content", Role.CONTENT_MANAGER, regions=[north]),
        "admin": make_user("admin", Role.ADMIN),
        "integration": make_user("robot", Role.INTEGRATION, regions=[north]),
        # One with a card and a card transaction, so a card dispute can be complete.
        "north_customer": Customer.objects.filter(
            region=north, accounts__transactions__isnull=False
        )
        .exclude(accounts__card_last4="")
        .order_by("pk")
        .first(),
        "south_customer": Customer.objects.filter(region=south).order_by("pk").first(),
    }


def _account_and_txn(customer: Customer) -> tuple[Any, Any]:
    for account in customer.accounts.exclude(card_last4="").order_by("pk"):
        txn = account.transactions.order_by("-posted_date", "pk").first()
        if txn is not None:
            return account, txn
    return customer.accounts.order_by("pk").first(), None


DISPUTE_DATA = {"reason": "duplicate"}


def _dispute(world: dict[str, Any], user_key: str = "agent", **data: Any) -> FormSubmission:
    user = world[user_key]
    customer = world["north_customer"]
    account, txn = _account_and_txn(customer)
    definition = definition_get(user, "card-dispute")
    values = prefill(user, definition, customer, account, txn)
    initial = {k: v["value"] for k, v in values.items() if v["value"] is not None}
    return submission_create_draft(
        actor=user,
        definition=definition,
        customer=customer,
        account=account,
        transaction=txn,
        data={**initial, **DISPUTE_DATA, **data},
    )


# Pre-fill ----------------------------------------------------------------------------


@pytest.mark.parametrize("role_key", ["agent", "compliance"])
def test_prefill_equals_visible_record_values(world: dict[str, Any], role_key: str) -> None:
    user = world[role_key]
    customers = list(Customer.objects.order_by("pk")[:30:3])
    if role_key == "agent":
        customers = [c for c in customers if c.region.code == "north"]
    assert customers
    checked_masked = 0
    for spec in DEMO_FORMS:
        definition = definition_get(user, spec["slug"])
        for customer in customers:
            account, txn = _account_and_txn(customer)
            values = prefill(user, definition, customer, account, txn)
            record = customer_record_values(user, customer, account, txn)
            for field in definition.fields.all():
                item = values[field.key]
                if not field.binding or field.binding not in record:
                    assert item == {"value": None, "provenance": None}
                    continue
                raw, origin = record[field.binding]
                assert item["provenance"] == {"source": "customer_record", **origin}
                if origin["masked"]:
                    checked_masked += 1
                    assert item["value"] is None, "a masked value must not pre-fill a field"
                    assert role_key == "agent"
                else:
                    expected = raw.isoformat() if hasattr(raw, "isoformat") else str(raw)
                    assert item["value"] == expected
    if role_key == "agent":
        assert checked_masked > 0  # account numbers are masked for agents
    assert AuditEvent.objects.filter(action="form.prefilled", actor=user).exists()


def test_prefill_audit_details(world: dict[str, Any]) -> None:
    customer = world["north_customer"]
    definition = definition_get(world["agent"], "address-change")
    prefill(world["agent"], definition, customer)
    event = AuditEvent.objects.filter(action="form.prefilled").latest("pk")
    assert event.details["form"] == "address-change"
    assert event.details["version"] == definition.version
    assert event.details["customer_id"] == customer.pk
    assert "customer.full_name" in event.details["paths"]


def test_region_isolation(world: dict[str, Any]) -> None:
    agent, south = world["agent"], world["south_customer"]
    definition = definition_get(agent, "card-dispute")
    with pytest.raises(Customer.DoesNotExist):
        prefill(agent, definition, south)
    with pytest.raises(Customer.DoesNotExist):
        submission_create_draft(actor=agent, definition=definition, customer=south)
    client = APIClient()
    client.force_authenticate(agent)
    response = client.post(
        "/api/v1/forms/card-dispute/prefill/", {"customer_id": south.pk}, format="json"
    )
    assert response.status_code == 404
    web = Client()
    web.force_login(agent)
    assert web.get(f"/forms/card-dispute/?customer={south.pk}").status_code == 404


def test_prefill_rejects_other_customers_account(world: dict[str, Any]) -> None:
    agent = world["agent"]
    other = Customer.objects.filter(region__code="north").order_by("pk")[1]
    account = other.accounts.first()
    definition = definition_get(agent, "card-dispute")
    with pytest.raises(ValidationError):
        prefill(agent, definition, world["north_customer"], account)


# Workflow ------------------------------------------------------------------------------

ROLES = ["agent", "supervisor", "compliance", "content_manager", "admin", "integration"]


def _attempt(transition: str, user: Any, submission: FormSubmission) -> str:
    services = {
        "submit": lambda: submission_submit(actor=user, submission=submission),
        "start_review": lambda: submission_start_review(actor=user, submission=submission),
        "approve": lambda: submission_approve(actor=user, submission=submission, comment="ok"),
        "reject": lambda: submission_reject(actor=user, submission=submission, comment="no"),
        "withdraw": lambda: submission_withdraw(actor=user, submission=submission),
    }
    try:
        services[transition]()
    except PermissionDenied:
        return "denied"
    except ValidationError:
        return "invalid"
    return "ok"


# (transition, status it starts from) -> the roles allowed; the owner is "agent".
EXPECTED = {
    ("submit", "draft"): {"agent"},
    ("withdraw", "draft"): {"agent"},
    ("withdraw", "submitted"): {"agent"},
    ("start_review", "submitted"): {"supervisor"},
    ("approve", "submitted"): {"supervisor"},
    ("approve", "in_review"): {"supervisor"},
    ("reject", "submitted"): {"supervisor"},
    ("reject", "in_review"): {"supervisor"},
}


def _in_status(world: dict[str, Any], status: str) -> FormSubmission:
    submission = _dispute(world)
    if status in ("submitted", "in_review"):
        submission = submission_submit(actor=world["agent"], submission=submission)
    if status == "in_review":
        submission = submission_start_review(actor=world["supervisor"], submission=submission)
    return submission


@pytest.mark.parametrize(("transition", "status"), sorted(EXPECTED))
def test_workflow_matrix(world: dict[str, Any], transition: str, status: str) -> None:
    for role in ROLES:
        submission = _in_status(world, status)
        outcome = _attempt(transition, world[role], submission)
        expected = "ok" if role in EXPECTED[(transition, status)] else "denied"
        assert outcome == expected, (transition, status, role, outcome)


@pytest.mark.parametrize(
    ("transition", "status", "actor"),
    [
        ("submit", "submitted", "agent"),
        ("withdraw", "in_review", "agent"),
        ("start_review", "in_review", "supervisor"),
        ("approve", "draft", "supervisor"),
        ("reject", "approved", "supervisor"),
        ("approve", "withdrawn", "supervisor"),
    ],
)
def test_transitions_from_wrong_status_are_invalid(
    world: dict[str, Any], transition: str, status: str, actor: str
) -> None:
    submission = _in_status(world, "in_review" if status == "approved" else status)
    if status == "approved":
        submission = submission_approve(actor=world["supervisor"], submission=submission)
    if status == "withdrawn":
        submission = submission_withdraw(actor=world["agent"], submission=submission)
    if status == "draft" and transition == "approve":
        # A reviewer cannot even open a draft: it is not theirs and not submitted.
        assert _attempt(transition, world[actor], submission) == "denied"
        return
    assert _attempt(transition, world[actor], submission) == "invalid"


def test_submitter_cannot_approve_own(world: dict[str, Any]) -> None:
    submission = _dispute(world, "supervisor")
    submission = submission_submit(actor=world["supervisor"], submission=submission)
    with pytest.raises(PermissionDenied, match="own"):
        submission_approve(actor=world["supervisor"], submission=submission)
    with pytest.raises(PermissionDenied):
        submission_reject(actor=world["supervisor"], submission=submission, comment="x")
    assert submission not in review_queue(world["supervisor"])


def test_region_scoped_reviewers_and_review_roles(world: dict[str, Any]) -> None:
    submission = submission_submit(actor=world["agent"], submission=_dispute(world))
    assert _attempt("approve", world["south_supervisor"], submission) == "denied"
    assert list(review_queue(world["south_supervisor"])) == []
    assert list(review_queue(world["supervisor"])) == [submission]
    # compliance sees every region, but card disputes are reviewed by supervisors only
    assert list(review_queue(world["compliance"])) == []
    with pytest.raises(FormSubmission.DoesNotExist):
        submission_get(world["south_supervisor"], submission.pk)
    with pytest.raises(FormSubmission.DoesNotExist):
        submission_get(world["agent2"], submission.pk)
    assert submission_get(world["supervisor"], submission.pk) == submission


def test_compliance_reviews_referrals_in_every_region(world: dict[str, Any]) -> None:
    agent, customer = world["agent"], world["north_customer"]
    definition = definition_get(agent, "suspicious-activity-referral")
    values = prefill(agent, definition, customer)
    data = {k: v["value"] for k, v in values.items() if v["value"] is not None}
    data.update(activity_types=["structuring"], narrative="Cash deposits under the limit.")
    submission = submission_create_draft(
        actor=agent, definition=definition, customer=customer, data=data
    )
    submission = submission_submit(actor=agent, submission=submission)
    assert list(review_queue(world["supervisor"])) == []
    assert list(review_queue(world["compliance"])) == [submission]
    submission = submission_reject(
        actor=world["compliance"], submission=submission, comment="Not enough detail."
    )
    assert submission.status == SubmissionStatus.REJECTED
    assert submission_decisions_recent(agent) == [submission]


def test_reject_needs_comment(world: dict[str, Any]) -> None:
    submission = submission_submit(actor=world["agent"], submission=_dispute(world))
    with pytest.raises(ValidationError, match="why"):
        submission_reject(actor=world["supervisor"], submission=submission, comment="  ")


def test_data_frozen_after_submit_and_provenance(world: dict[str, Any]) -> None:
    draft = _dispute(world)
    assert draft.provenance["customer_name"]["source"] == "customer_record"
    assert draft.provenance["reason"] == {"source": "user"}
    changed = submission_update_draft(
        actor=world["agent"], submission=draft, data={**draft.data, "customer_name": "Someone"}
    )
    assert changed.provenance["customer_name"] == {"source": "user"}
    assert changed.provenance["customer_number"]["source"] == "customer_record"
    with pytest.raises(ValidationError):
        submission_update_draft(
            actor=world["agent"], submission=changed, data={**changed.data, "card_last4": "12x"}
        )
    with pytest.raises(PermissionDenied):
        submission_update_draft(actor=world["agent2"], submission=changed, data=changed.data)
    submitted = submission_submit(actor=world["agent"], submission=changed)
    with pytest.raises(ValidationError, match="frozen"):
        submission_update_draft(actor=world["agent"], submission=submitted, data={})
    submitted.refresh_from_db()
    assert submitted.data["customer_name"] == "Someone"


def test_incomplete_draft_saves_but_cannot_submit(world: dict[str, Any]) -> None:
    agent, customer = world["agent"], world["north_customer"]
    definition = definition_get(agent, "card-dispute")
    draft = submission_create_draft(
        actor=agent, definition=definition, customer=customer, data={"reason": "other"}
    )
    assert draft.status == SubmissionStatus.DRAFT
    with pytest.raises(ValidationError) as raised:
        submission_submit(actor=agent, submission=draft)
    assert "other_reason" in raised.value.message_dict
    draft.refresh_from_db()
    assert draft.status == SubmissionStatus.DRAFT


def test_every_transition_audited_with_event(world: dict[str, Any]) -> None:
    submission = _dispute(world)
    submission = submission_submit(actor=world["agent"], submission=submission)
    submission = submission_start_review(actor=world["supervisor"], submission=submission)
    submission = submission_approve(
        actor=world["supervisor"], submission=submission, comment="Fine."
    )
    events = list(SubmissionEvent.objects.filter(submission=submission))
    assert [(e.from_status, e.to_status) for e in events] == [
        ("", "draft"),
        ("draft", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "approved"),
    ]
    assert events[-1].comment == "Fine." and events[-1].actor == world["supervisor"]
    actions = list(
        AuditEvent.objects.filter(target_id=str(submission.pk), action__startswith="form_sub")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "form_submission.created",
        "form_submission.submitted",
        "form_submission.review_started",
        "form_submission.approved",
    ]
    assert submission.decided_at is not None and submission.reviewer == world["supervisor"]
    assert list(submission_list_mine(world["agent"])) == [submission]


def test_definition_version_is_kept(world: dict[str, Any]) -> None:
    submission = _dispute(world)
    assert submission.definition == FormDefinition.objects.get(slug="card-dispute", version=1)


# API -----------------------------------------------------------------------------------


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_prefill_and_submission_flow(world: dict[str, Any]) -> None:
    customer = world["north_customer"]
    account, txn = _account_and_txn(customer)
    agent = _api(world["agent"])
    body = {"customer_id": customer.pk, "account_id": account.pk, "transaction_id": txn.pk}
    response = agent.post("/api/v1/forms/card-dispute/prefill/", body, format="json")
    assert response.status_code == 200, response.json()
    values = response.json()["values"]
    assert values["customer_name"]["value"] == customer.full_name
    assert values["transaction"]["value"] == str(txn.pk)
    data = {k: v["value"] for k, v in values.items() if v["value"] is not None}
    response = agent.post(
        "/api/v1/submissions/",
        {"form": "card-dispute", **body, "data": {**data, "reason": "duplicate"}, "submit": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == "submitted"
    assert created["provenance"]["customer_name"]["source"] == "customer_record"
    pk = created["id"]
    assert agent.get(f"/api/v1/submissions/{pk}/").json()["id"] == pk

    own = agent.post(f"/api/v1/submissions/{pk}/approve/", {"comment": "me"}, format="json")
    assert own.status_code == 403
    assert set(own.json()) == {"message", "extra"}
    assert _api(world["south_supervisor"]).get(f"/api/v1/submissions/{pk}/").status_code == 404
    south = _api(world["south_supervisor"]).post(f"/api/v1/submissions/{pk}/approve/")
    assert south.status_code == 404

    supervisor = _api(world["supervisor"])
    no_comment = supervisor.post(f"/api/v1/submissions/{pk}/reject/", {}, format="json")
    assert no_comment.status_code == 400
    assert no_comment.json()["message"] and "comment" in str(no_comment.json()["extra"])
    approved = supervisor.post(f"/api/v1/submissions/{pk}/approve/", {"comment": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = agent.post(f"/api/v1/submissions/{pk}/withdraw/")
    assert again.status_code == 400
    assert set(again.json()) == {"message", "extra"}


def test_api_invalid_data_and_missing(world: dict[str, Any]) -> None:
    agent = _api(world["agent"])
    customer = world["north_customer"]
    bad = agent.post(
        "/api/v1/submissions/",
        {"form": "card-dispute", "customer_id": customer.pk, "data": {"card_last4": "abcd"}},
        format="json",
    )
    assert bad.status_code == 400
    assert "card_last4" in bad.json()["extra"]["fields"]
    incomplete = agent.post(
        "/api/v1/submissions/",
        {"form": "card-dispute", "customer_id": customer.pk, "data": {}, "submit": True},
        format="json",
    )
    assert incomplete.status_code == 400
    assert not FormSubmission.objects.exists()  # submit failed: the draft was not kept
    assert agent.get("/api/v1/submissions/999999/").status_code == 404
    missing = agent.post(
        "/api/v1/submissions/",
        {"form": "card-dispute", "customer_id": world["south_customer"].pk},
        format="json",
    )
    assert missing.status_code == 404
    robot = _api(world["integration"])
    response = robot.post(
        "/api/v1/forms/card-dispute/prefill/", {"customer_id": customer.pk}, format="json"
    )
    assert response.status_code == 404


# Pages ---------------------------------------------------------------------------------


def test_pages_flow(client: Client, world: dict[str, Any]) -> None:
    customer = world["north_customer"]
    account, txn = _account_and_txn(customer)
    client.force_login(world["agent"])
    body = client.get(f"/forms/card-dispute/?customer_q={customer.customer_number}")
    assert f'data-customer="{customer.pk}"' in body.content.decode()
    url = f"/forms/card-dispute/?customer={customer.pk}&account={account.pk}&transaction={txn.pk}"
    page = client.get(url).content.decode()
    assert f"from customer #{customer.pk} · full_name" in page
    assert f'data-transaction="{txn.pk}"' not in page  # chosen already
    form = client.get(url).context["form"]
    post = {k: v for k, v in form.initial.items() if v is not None}
    post.update(
        customer=customer.pk,
        account=account.pk,
        transaction=txn.pk,
        reason="duplicate",
        action="save",
    )
    response = client.post("/forms/card-dispute/", post)
    assert response.status_code == 302
    submission = FormSubmission.objects.get()
    assert submission.status == SubmissionStatus.DRAFT  # nothing submitted without the click
    detail = client.get(f"/forms/submissions/{submission.pk}/").content.decode()
    assert "Submit" in detail and "from customer #" in detail
    response = client.post(f"/forms/submissions/{submission.pk}/", {**post, "action": "submit"})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.SUBMITTED
    mine = client.get("/forms/submissions/").content.decode()
    assert f'data-submission="{submission.pk}"' in mine

    client.force_login(world["supervisor"])
    assert f'data-submission="{submission.pk}"' in client.get("/forms/reviews/").content.decode()
    response = client.post(
        f"/forms/submissions/{submission.pk}/approve/", {"comment": "Looks right."}
    )
    assert response.status_code == 302
    client.force_login(world["agent"])
    dashboard = client.get("/").content.decode()
    assert "Decisions on your submissions" in dashboard and "Looks right." in dashboard
    assert client.post(f"/forms/submissions/{submission.pk}/approve/").status_code == 403
    client.force_login(world["south_supervisor"])
    assert client.get(f"/forms/submissions/{submission.pk}/").status_code == 404
    client.force_login(world["agent"])
    assert client.get("/forms/reviews/").status_code == 403


def test_sensitive_values_are_masked_for_each_viewer(world: dict[str, Any]) -> None:
    """A compliance officer sees and submits the full account number; the supervisor who
    reviews it sees only what their field visibility allows."""
    from forms_app.services import submission_submit

    compliance, supervisor = world["compliance"], world["supervisor"]
    customer = world["north_customer"]
    account = customer.accounts.order_by("pk").first()
    definition = definition_get(compliance, "account-closure")
    values = prefill(compliance, definition, customer, account)
    full_number = values["account_number"]["value"]
    assert full_number and "•" not in full_number
    draft = submission_create_draft(
        actor=compliance,
        definition=definition,
        customer=customer,
        account=account,
        data={
            **{k: v["value"] for k, v in values.items() if v["value"] is not None},
            "reason": "moving",
            "balance_handling": "cheque",
        },
    )
    submission_submit(actor=compliance, submission=draft)

    seen_by_supervisor = _api(supervisor).get(f"/api/v1/submissions/{draft.pk}/").json()
    assert seen_by_supervisor["data"]["account_number"] == f"•••• {full_number[-4:]}"
    assert full_number not in str(seen_by_supervisor)
    seen_by_compliance = _api(compliance).get(f"/api/v1/submissions/{draft.pk}/").json()
    assert seen_by_compliance["data"]["account_number"] == full_number

    page = Client()
    page.force_login(supervisor)
    html = page.get(f"/forms/submissions/{draft.pk}/").content.decode()
    assert full_number not in html and full_number[-4:] in html


def test_customer_page_lists_the_submissions_one_may_see(
    client: Client, world: dict[str, Any]
) -> None:
    submission = _dispute(world)
    customer_page = f"/customers/{world['north_customer'].pk}/"
    marker = f'data-submission="{submission.pk}"'
    client.force_login(world["agent"])
    assert marker in client.get(customer_page).content.decode()
    client.force_login(world["agent2"])  # same region, neither owner nor reviewer
    assert marker not in client.get(customer_page).content.decode()


# Invalid text (pen test: a lone surrogate poisoned a submission and its owner's list) ------


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ({"merchant": "Shop \ud800"}, "invalid Unicode"),
        ({"merchant": "Shop \x00"}, "NUL"),
        ({"\udfff": "x"}, "invalid Unicode"),
    ],
)
def test_api_refuses_invalid_text_and_stores_nothing(
    world: dict[str, Any], data: dict[str, Any], what: str
) -> None:
    agent = _api(world["agent"])
    body = {"form": "card-dispute", "customer_id": world["north_customer"].pk, "data": data}
    # As a client sends it: json.dumps writes a lone surrogate as the escape "\ud800".
    raw = json.dumps(body)
    response = agent.post("/api/v1/submissions/", raw, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert what in response.json()["message"]
    assert not FormSubmission.objects.exists()
    assert agent.get("/api/v1/submissions/").status_code == 200


def test_stored_lone_surrogate_still_lists_and_renders(world: dict[str, Any]) -> None:
    """A row stored before input was checked: its values read back with U+FFFD."""
    submission = _dispute(world)
    FormSubmission.objects.filter(pk=submission.pk).update(
        data={**submission.data, "merchant": "Shop \ud800", "\udfff": "odd key"}
    )
    stored = FormSubmission.objects.get(pk=submission.pk)
    assert stored.data["merchant"] == "Shop \ufffd" and stored.data["\ufffd"] == "odd key"

    agent = _api(world["agent"])
    listed = agent.get("/api/v1/submissions/")
    assert listed.status_code == 200
    rows = listed.json()["results"] if "results" in listed.json() else listed.json()
    assert [row["data"]["merchant"] for row in rows] == ["Shop \ufffd"]
    detail = agent.get(f"/api/v1/submissions/{submission.pk}/")
    assert detail.status_code == 200 and detail.json()["data"]["merchant"] == "Shop \ufffd"

    page = Client()
    page.force_login(world["agent"])
    for url in ("/forms/submissions/", f"/forms/submissions/{submission.pk}/"):
        response = page.get(url)
        assert response.status_code == 200, url
    assert "Shop \ufffd" in response.content.decode()
