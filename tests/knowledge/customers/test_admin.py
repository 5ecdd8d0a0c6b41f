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
