"""The access review: the table and its CSV (view_audit only), decisions, revocations."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from knowledge.demo import seed_collections
from portal.models import AccessReview, AuditEvent, ExternalIdentity
from portal.permissions import Role
from portal.services import api_token_create


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(make_user: Any, regions: Any) -> dict[str, Any]:
    seed_collections()
    agent = make_user("agent1", Role.AGENT, regions=[regions["north"]], first_name="Ann")
    sso_user = make_user("sso.bob", Role.SUPERVISOR, regions=[regions["south"]])
    ExternalIdentity.objects.create(
        user=sso_user, issuer="https://idp", subject="s-1", groups=["portal-sup-south"]
    )
    api_token_create(user=agent, name='=HYPERLINK("http://x")', scopes=["read"])
    return {
        "agent": agent,
        "sso": sso_user,
        "compliance": make_user("auditor", Role.COMPLIANCE),
        "admin": make_user("root", Role.ADMIN, is_staff=True, is_superuser=True),
    }


@pytest.mark.django_db
def test_the_review_shows_every_account_and_how_it_was_granted(people: dict[str, Any]) -> None:
    page = _client(people["compliance"]).get("/audit/access/")
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("agent1", "sso.bob", "auditor", "root"):
        assert f'data-access-user="{name}"' in html
    assert "single sign-on groups: portal-sup-south" in html
    assert "local account, set in the admin" in html
    assert "Collections it reads" in html  # registered by knowledge
    rows = {r.user.username: r for r in page.context["rows"]}
    assert rows["agent1"].customer_regions == "north"
    assert rows["auditor"].customer_regions == "all regions"
    assert rows["sso.bob"].second_factor == "identity provider"
    assert rows["agent1"].tokens == ['=HYPERLINK("http://x") (read; never used)']
    assert (
        "Products" in rows["agent1"].facts["Collections it reads"]
        or rows["agent1"].facts["Collections it reads"]
    )


@pytest.mark.django_db
def test_only_who_reads_the_audit_trail_sees_it(people: dict[str, Any]) -> None:
    agent = _client(people["agent"])
    assert agent.get("/audit/access/").status_code == 403
    assert agent.get("/audit/access.csv").status_code == 403
    assert (
        agent.post(
            f"/audit/access/{people['agent'].pk}/review/", {"decision": "certified"}
        ).status_code
        == 403
    )
    assert not AccessReview.objects.exists()


@pytest.mark.django_db
def test_the_csv_has_every_account_and_no_formula(people: dict[str, Any]) -> None:
    response = _client(people["compliance"]).get("/audit/access.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["user", "name", "active", "roles"] and "Collections it reads" in header
    assert {row[0] for row in body} >= {"agent1", "sso.bob", "auditor", "root"}
    tokens = next(row for row in body if row[0] == "agent1")[header.index("API tokens")]
    assert tokens.startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it


@pytest.mark.django_db
def test_decisions_are_recorded_and_revocations_resolved(people: dict[str, Any]) -> None:
    compliance = _client(people["compliance"])
    target = people["agent"]
    url = f"/audit/access/{target.pk}/review/"
    assert compliance.post(url, {"decision": "certified"}).status_code == 302
    refused = compliance.post(url, {"decision": "revoke"}, follow=True)
    assert "Say what is to be revoked" in refused.content.decode()
    assert compliance.post(url, {"decision": "maybe"}).status_code == 302
    assert AccessReview.objects.count() == 1
    compliance.post(url, {"decision": "revoke", "comment": "Moved to marketing"})
    review = AccessReview.objects.get(decision="revoke")
    page = compliance.get("/audit/access/").content.decode()
    assert "data-revocations" in page and "Moved to marketing" in page
    event = AuditEvent.objects.filter(action="access.reviewed").latest("pk")
    assert event.details["decision"] == "revoke"
    assert event.details["comment"] != "Moved to marketing"  # a fingerprint (portal.audit)
    # Compliance asks; who manages users carries it out.
    resolve = f"/audit/access/reviews/{review.pk}/resolve/"
    assert compliance.post(resolve).status_code == 403
    assert _client(people["admin"]).post(resolve).status_code == 302
    review.refresh_from_db()
    assert review.resolved_by == people["admin"]
    assert AuditEvent.objects.filter(action="access.revocation_done").exists()
    assert "data-revocations" not in compliance.get("/audit/access/").content.decode()
    assert compliance.post("/audit/access/99999999999999999999/review/").status_code == 404


@pytest.mark.django_db
def test_the_review_costs_the_same_queries_for_more_accounts(
    people: dict[str, Any], make_user: Any, regions: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.access_review import access_rows

    def queries() -> int:
        auditor = get_user_model().objects.get(username="auditor")  # a fresh object
        with CaptureQueriesContext(connection) as captured:
            access_rows(auditor)
        return len(captured)

    before = queries()
    for n in range(5):
        make_user(f"agent-extra-{n}", Role.AGENT, regions=[regions["north"]])
    assert queries() == before
