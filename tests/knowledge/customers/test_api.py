"""Customer API: masking per role, refusals, validation, the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import include, path
from rest_framework.test import APIClient

from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("role", "tax_id", "account"),
    [
        ("agent", "***-**-6789", "•••• 5678"),
        ("supervisor", "***-**-6789", "•••• 5678"),
        ("compliance", "123-45-6789", "000012345678"),
    ],
)
def test_api_masks_per_role(
    customers: dict[str, Any], role_users: Any, role: str, tax_id: str, account: str
) -> None:
    api = _api(role_users[role])
    found = api.get("/api/v1/customers/", {"q": "4321"})
    assert found.status_code == 200
    # Compliance also finds Jane (tax id ending 4321, south region).
    [hit] = [row for row in found.json()["results"] if row["customer_number"] == "CUS-N-001"]
    assert hit["tax_id"] == tax_id
    detail = api.get(f"/api/v1/customers/{customers['john'].pk}/").json()
    assert detail["tax_id"] == tax_id
    assert detail["accounts"][0]["account_number"] == account
    assert len(detail["transactions"]) == 2
    assert detail["cases"][0]["type"] == "fraud_alert"
    assert AuditEvent.objects.filter(action="customer.viewed").count() == 1


@pytest.mark.parametrize("role", ["integration", "content_manager", "admin"])
def test_api_refuses_roles_without_customer_access(
    customers: dict[str, Any], role_users: Any, role: str
) -> None:
    api = _api(role_users[role])
    response = api.get("/api/v1/customers/", {"q": "John"})
    assert response.status_code == 403
    assert set(response.json()) == {"message", "extra"}
    assert api.get(f"/api/v1/customers/{customers['john'].pk}/").status_code == 403


def test_api_validates_the_query(role_users: Any) -> None:
    response = _api(role_users["agent"]).get("/api/v1/customers/")
    assert response.status_code == 400
    assert "q" in response.json()["extra"]["fields"]


def test_schema_documents_customer_endpoints(tmp_path: Path) -> None:
    # Our endpoints alone must add no schema warnings (the suite's full-schema check,
    # tests/knowledge/test_api.py, covers the whole API).
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    patterns = [path("", include("knowledge.customers.api.urls"))]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    assert not GENERATOR_STATS, "customer endpoints produce schema warnings"
    assert set(schema["paths"]) == {"/customers/", "/customers/{id}/"}
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    full = target.read_text()
    assert "/api/v1/customers/:" in full
    assert "/api/v1/customers/{id}/:" in full
    assert "operationId: customers_search" in full
