"""Forms API: list and detail, forbidden answers like missing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from forms_app.models import FormDefinition
from knowledge.customers.demo import seed_customers
from knowledge.customers.models import Customer
from portal.models import TOKEN_SCOPES
from portal.permissions import Role
from portal.services import api_token_create

pytestmark = pytest.mark.django_db


def test_api_list_and_detail(make_user: Any, seeded: None) -> None:
    client = APIClient()
    assert client.get("/api/v1/forms/").status_code == 401
    assert client.get("/api/v1/forms/card-dispute/").status_code == 401

    client.force_authenticate(make_user("agent", Role.AGENT))
    listing = client.get("/api/v1/forms/").json()
    assert {row["slug"] for row in listing} == {
        "card-dispute",
        "address-change",
        "suspicious-activity-referral",
        "account-closure",
    }
    assert set(listing[0]) == {"slug", "title", "description", "version"}
    detail = client.get("/api/v1/forms/card-dispute/").json()
    assert detail["version"] == 1
    keys = [field["key"] for field in detail["fields"]]
    assert keys[:2] == ["customer_name", "customer_number"]
    other = next(f for f in detail["fields"] if f["key"] == "other_reason")
    assert other["show_when"] == {"field": "reason", "equals": "other"}
    schema = detail["json_schema"]
    assert schema["properties"]["reason"]["enum"][-1] == "other"
    assert schema["properties"]["card_last4"]["x-binding"] == "account.card_last4"

    missing = client.get("/api/v1/forms/nope/")
    assert missing.status_code == 404
    assert missing.json() == {"message": "No such form.", "extra": {}}


def test_api_forbidden_answers_like_missing(make_user: Any, seeded: None) -> None:
    FormDefinition.objects.filter(slug="account-closure").update(fill_roles=["supervisor"])
    client = APIClient()
    client.force_authenticate(make_user("agent", Role.AGENT))
    assert client.get("/api/v1/forms/account-closure/").status_code == 404
    robot = make_user("robot", Role.INTEGRATION)
    _, key = api_token_create(user=robot, name="crm", scopes=TOKEN_SCOPES)
    client = APIClient()
    response = client.get("/api/v1/forms/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and response.json() == []
    response = client.get("/api/v1/forms/card-dispute/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 404


def test_a_submission_not_reviewed_yet_is_what_the_schema_says(
    make_user: Any, regions: dict[str, Any], seeded: None
) -> None:
    """Found by the API fuzzer: `reviewer` is null until someone reviews, which the schema
    said could not be (a string)."""
    seed_customers(count=4)
    client = APIClient()
    client.force_authenticate(make_user("agent", Role.AGENT, regions=[regions["north"]]))
    customer = Customer.objects.filter(region=regions["north"]).order_by("pk").first()
    assert customer is not None
    created = client.post(
        "/api/v1/submissions/",
        {"form": "address-change", "customer_id": customer.pk, "data": {}},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["reviewer"] is None
    schema = client.get("/api/schema/?format=json").json()
    reviewer = schema["components"]["schemas"]["Submission"]["properties"]["reviewer"]
    assert reviewer["nullable"] is True
