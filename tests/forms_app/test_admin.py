"""Form definitions in the admin: validation, publishing and revisions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from forms_app.models import DefinitionStatus, FormDefinition
from portal.models import AuditEvent
from portal.permissions import Role

pytestmark = pytest.mark.django_db


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
