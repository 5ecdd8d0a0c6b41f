"""Customer pages: masking per role, region isolation, 403/404, navigation."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

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
