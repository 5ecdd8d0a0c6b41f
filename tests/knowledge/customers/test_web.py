"""Customer pages, API and admin: masking per role, region isolation, 403/404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import include, path
from rest_framework.test import APIClient

from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _web(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("role", "shown", "not_shown"),
    [
        ("agent", ["***-**-6789", "1984-**-**", "•••• 5678"], ["123-45-6789", "1984-03-15"]),
        ("supervisor", ["***-**-6789", "•••• 5678"], ["123-45-6789", "000012345678"]),
        ("compliance", ["123-45-6789", "1984-03-15", "000012345678"], ["***-**-6789"]),
    ],
)
def test_pages_mask_per_role(
    customers: dict[str, Any], role_users: Any, role: str, shown: list[str], not_shown: list[str]
) -> None:
    client = _web(role_users[role])
    search = client.get("/customers/", {"q": "John Smith"})
    assert search.status_code == 200
    page = client.get(f"/customers/{customers['john'].pk}/")
    assert page.status_code == 200
    body = search.content.decode() + page.content.decode()
    assert "FreshMart" in page.content.decode()
    for text in shown:
        assert text in body, text
    for text in not_shown:
        assert text not in body, text


@pytest.mark.parametrize("role", ["content_manager", "admin", "integration"])
def test_roles_without_customer_access_are_refused(
    customers: dict[str, Any], role_users: Any, role: str
) -> None:
    client = _web(role_users[role])
    assert client.get("/customers/", {"q": "John"}).status_code == 403
    assert client.get(f"/customers/{customers['john'].pk}/").status_code == 403


def test_agent_of_north_cannot_open_south(customers: dict[str, Any], role_users: Any) -> None:
    client = _web(role_users["agent"])
    search = client.get("/customers/", {"q": "CUS-S-001"}).content.decode()
    assert "0 customers for" in search
    assert "Jane Southern" not in search
    assert client.get(f"/customers/{customers['jane'].pk}/").status_code == 404
    api = _api(role_users["agent"])
    assert api.get(f"/api/v1/customers/{customers['jane'].pk}/").status_code == 404
    assert api.get("/api/v1/customers/", {"q": "Jane Southern"}).json()["results"] == []


def test_navigation_and_dashboard_link(role_users: Any) -> None:
    body = _web(role_users["agent"]).get("/").content.decode()
    assert 'href="/customers/"' in body
    assert 'href="/customers/"' not in _web(role_users["content_manager"]).get("/").content.decode()


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


def test_admin_masks_unless_full(
    customers: dict[str, Any], role_users: Any, make_user: Any
) -> None:
    url = f"/admin/customers/customer/{customers['john'].pk}/change/"
    body = _web(role_users["admin"]).get(url).content.decode()
    assert "123-45-6789" in body
    assert "000012345678" in body
    from portal.permissions import Role

    staff_agent = make_user(
        "staffagent", Role.AGENT, regions=[customers["john"].region], is_staff=True
    )
    body = _web(staff_agent).get(url).content.decode()
    assert "***-**-6789" in body
    assert "123-45-6789" not in body
    assert "000012345678" not in body
    content = make_user("staffcontent", Role.CONTENT_MANAGER, is_staff=True)
    assert _web(content).get(url).status_code in (302, 403, 404)


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
