"""Portal pages: security headers, error pages, local assets only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from portal.permissions import Role


@pytest.mark.django_db
def test_every_page_requires_login(client: Client) -> None:
    for name in ("portal:dashboard", "portal:audit_list", "password_change"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith(reverse("login")), name


@pytest.mark.django_db
def test_security_headers_and_local_assets(client: Client, make_user: Any) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    response = client.get(reverse("portal:dashboard"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    html = response.content.decode()
    assert not re.search(r"(src|href)=\"https?://", html), "assets must be local"
    assert "<script>" not in html
    assert " style=" not in html
    assert " onclick=" not in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset


@pytest.mark.django_db
def test_404_page_in_portal_style(client: Client, make_user: Any) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Enterprise Portal" in response.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_500_page_renders_without_context(client: Client) -> None:
    from portal.views.pages import server_error

    response = server_error(client.get("/").wsgi_request)
    assert response.status_code == 500
    assert b"Enterprise Portal" in response.content


@pytest.mark.django_db
def test_api_only_account_gets_no_portal_page(client: Client, make_user: Any) -> None:
    client.force_login(make_user("robot", Role.INTEGRATION))
    assert client.get(reverse("portal:dashboard")).status_code == 403


def test_old_customer_admin_links_redirect_to_the_customers_app(client: Any) -> None:
    response = client.get("/admin/knowledge/customer/12/change/?_changelist_filters=x")
    assert response.status_code == 301
    assert response["Location"] == "/admin/customers/customer/12/change/?_changelist_filters=x"
