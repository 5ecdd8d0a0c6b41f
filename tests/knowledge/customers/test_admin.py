"""Customer admin: read-only, masked unless the role sees values in full."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _web(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


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


def test_admin_rows_follow_the_customer_policy(
    customers: dict[str, Any], make_user: Any, regions: dict[str, Any]
) -> None:
    """Customers, transactions and cases of the user's regions only; none for a content
    manager, even with staff access and model permissions; nothing editable."""
    from django.contrib.auth.models import Permission

    from portal.permissions import Role

    john, jane = customers["john"], customers["jane"]
    content = make_user("staffcontent", Role.CONTENT_MANAGER, is_staff=True)
    content.user_permissions.add(*Permission.objects.filter(content_type__app_label="customers"))
    web = _web(content)
    for url in (
        "/admin/customers/customer/",
        f"/admin/customers/customer/{john.pk}/change/",
        "/admin/customers/transaction/",
        f"/admin/customers/transaction/{customers['transaction'].pk}/change/",
        "/admin/customers/case/",
    ):
        response = web.get(url)
        assert response.status_code in (302, 403), url
        assert "John Smith" not in response.content.decode()
    assert web.post(f"/admin/customers/customer/{john.pk}/change/", {}).status_code == 403
    assert (
        web.post(f"/admin/customers/customer/{john.pk}/delete/", {"post": "yes"}).status_code == 403
    )

    agent = _web(make_user("staffagent", Role.AGENT, regions=[regions["north"]], is_staff=True))
    listing = agent.get("/admin/customers/customer/").content.decode()
    assert "John Smith" in listing and "Jane Southern" not in listing
    south = agent.get(f"/admin/customers/customer/{jane.pk}/change/")
    assert south.status_code == 302 and "Jane Southern" not in south.content.decode()
    transactions = agent.get("/admin/customers/transaction/").content.decode()
    assert "FreshMart" in transactions
    north = agent.get(f"/admin/customers/customer/{john.pk}/change/").content.decode()
    assert 'name="_save"' not in north  # read-only
    assert agent.post(f"/admin/customers/customer/{john.pk}/change/", {}).status_code == 403
