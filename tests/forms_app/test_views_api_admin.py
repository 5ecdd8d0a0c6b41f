"""Form pages, the forms API and the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from forms_app.models import DefinitionStatus, FormDefinition
from portal.models import AuditEvent
from portal.permissions import Role
from portal.services import api_token_create

pytestmark = pytest.mark.django_db


def test_pages_require_login(client: Client, seeded: None) -> None:
    for path in ("/forms/", "/forms/card-dispute/", "/forms/card-dispute/preview/"):
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_list_and_fill(client: Client, make_user: Any, seeded: None) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    body = client.get("/forms/").content.decode()
    assert "Card transaction dispute" in body and "Account closure" in body
    response = client.get("/forms/card-dispute/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-show-when-field="reason"' in body
    assert "js/forms.js" in body
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert client.get("/forms/no-such-form/").status_code == 404


def test_post_validates_server_side_without_storing(
    client: Client, make_user: Any, seeded: None
) -> None:
    from forms_app.models import FormSubmission

    client.force_login(make_user("agent", Role.AGENT))
    response = client.post("/forms/card-dispute/", {"reason": "other"})
    body = response.content.decode()
    assert response.status_code == 200
    # A submission is always about a customer: without one nothing is stored.
    assert "Pick a customer first" in body
    assert response.context["form"].errors["other_reason"] == ["This field is required."]

    closure = {
        "customer_name": "Ann Lee",
        "customer_number": "C-1",
        "account_number": "NL00BANK0123456789",
        "reason": "fees",
        "balance_handling": "cheque",
        "transfer_iban": "not an iban, but hidden",
        "action": "submit",
    }
    response = client.post("/forms/account-closure/", closure)
    assert response.status_code == 200
    assert "transfer_iban" not in response.context["form"].cleaned_data
    assert not FormSubmission.objects.exists()


def test_filling_is_limited_by_fill_roles(client: Client, make_user: Any, seeded: None) -> None:
    FormDefinition.objects.filter(slug="account-closure").update(fill_roles=["supervisor"])
    client.force_login(make_user("agent", Role.AGENT))
    assert client.get("/forms/account-closure/").status_code == 404
    assert "Account closure" not in client.get("/forms/").content.decode()


def test_content_manager_previews_but_does_not_fill(
    client: Client, make_user: Any, seeded: None
) -> None:
    client.force_login(make_user("content", Role.CONTENT_MANAGER))
    assert client.get("/forms/").status_code == 403
    assert client.get("/forms/card-dispute/").status_code == 403
    response = client.get("/forms/card-dispute/preview/?version=1")
    assert response.status_code == 200
    assert "Preview" in response.content.decode()
    assert client.get("/forms/card-dispute/preview/?version=9").status_code == 404


def test_agent_gets_no_preview(client: Client, make_user: Any, seeded: None) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    assert client.get("/forms/card-dispute/preview/").status_code == 404


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
    _, key = api_token_create(user=robot, name="crm")
    client = APIClient()
    response = client.get("/api/v1/forms/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200 and response.json() == []
    response = client.get("/api/v1/forms/card-dispute/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 404


def _inline(prefix: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        defaults = {
            "order": str(i),
            "type": "text",
            "sensitivity": "normal",
            "choices": "[]",
            "validation": "{}",
            "show_when": "{}",
        }
        for name, value in {**defaults, **row}.items():
            data[f"{prefix}-{i}-{name}"] = value
    return data


def test_admin_validates_publishes_and_revises(client: Client, make_user: Any) -> None:
    admin_user = make_user("boss", Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    base = {"slug": "kyc", "title": "KYC", "description": "", "fill_roles": ["agent"]}
    bad = _inline(
        "fields",
        [
            {"key": "a", "label": "A", "binding": "customer.shoe_size"},
            {"key": "b", "label": "B", "validation": '{"regex": "("}'},
        ],
    )
    response = client.post("/admin/forms_app/formdefinition/add/", {**base, **bad})
    assert response.status_code == 200
    body = response.content.decode()
    assert "not a supported binding" in body and "regex is not valid" in body
    assert not FormDefinition.objects.exists()

    good = _inline("fields", [{"key": "a", "label": "A", "binding": "customer.full_name"}])
    response = client.post("/admin/forms_app/formdefinition/add/", {**base, **good})
    assert response.status_code == 302, response.content.decode()[:3000]
    draft = FormDefinition.objects.get(slug="kyc")
    assert (draft.version, draft.status) == (1, DefinitionStatus.DRAFT)
    assert draft.fields.get().binding == "customer.full_name"

    changelist = "/admin/forms_app/formdefinition/"
    assert "/forms/kyc/preview/?version=1" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "publish", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == DefinitionStatus.PUBLISHED
    client.post(changelist, {"action": "create_new_version", "_selected_action": [draft.pk]})
    assert FormDefinition.objects.get(slug="kyc", version=2).status == DefinitionStatus.DRAFT
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "form_definition.created",
        "form_definition.published",
        "form_definition.revised",
    }
