"""The portal's admin pages apply the policy: users, groups (roles) and regions for admins
(manage_users), the audit trail for who may read it, API tokens of one's own account."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import ApiToken
from portal.permissions import Role
from portal.services import api_token_create

pytestmark = pytest.mark.django_db


def _grant(user: Any, *codenames: str) -> Any:
    """Model permissions open admin pages; a mistaken grant must not widen the policy."""
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(make_user: Any) -> Any:
    return make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)


def test_users_and_groups_only_for_admins(make_user: Any, root: Any) -> None:
    supervisor = _grant(
        make_user("staff_sup", Role.SUPERVISOR, is_staff=True),
        *[f"{a}_{m}" for a in ("view", "add", "change", "delete") for m in ("user", "group")],
    )
    web = _client(supervisor)
    for url in (
        "/admin/auth/user/",
        f"/admin/auth/user/{supervisor.pk}/change/",
        f"/admin/auth/user/{root.pk}/password/",
        "/admin/auth/group/",
        "/admin/auth/group/add/",
    ):
        assert web.get(url).status_code in (302, 403), url
    admins = Group.objects.get(name="admin")
    response = web.post(
        f"/admin/auth/user/{supervisor.pk}/change/",
        {
            "username": "staff_sup",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [admins.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code in (302, 403)
    supervisor.refresh_from_db()
    assert not supervisor.is_superuser
    assert not supervisor.groups.filter(name="admin").exists()
    assert "/admin/auth/" not in web.get("/admin/").content.decode()

    admin_web = _client(root)
    for url in (
        "/admin/auth/user/",
        f"/admin/auth/user/{supervisor.pk}/change/",
        "/admin/auth/group/",
    ):
        assert admin_web.get(url).status_code == 200, url


def test_api_tokens_of_ones_own_account_only(make_user: Any, root: Any) -> None:
    agent = _grant(
        make_user("staff_agent", Role.AGENT, is_staff=True),
        "view_apitoken",
        "add_apitoken",
        "change_apitoken",
        "delete_apitoken",
    )
    own, _ = api_token_create(user=agent, name="own laptop")
    foreign, _ = api_token_create(user=root, name="root automation")
    web = _client(agent)
    # Adding a token needs a session that gave an MFA code lately: enrol in this one.
    web.get("/accounts/mfa/enrol/")
    device = TOTPDevice.objects.get(user=agent, confirmed=False)
    code = str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits))
    assert web.post("/accounts/mfa/enrol/", {"code": code.zfill(6)}).status_code == 200
    listing = web.get("/admin/portal/apitoken/").content.decode()
    assert "own laptop" in listing and "root automation" not in listing
    response = web.get(f"/admin/portal/apitoken/{foreign.pk}/change/")
    assert response.status_code == 302 and "root automation" not in response.content.decode()
    # No token for somebody else (that would be signing in as them) ...
    response = web.post("/admin/portal/apitoken/add/", {"user": root.pk, "name": "as root"})
    assert response.status_code == 200
    assert not ApiToken.objects.filter(name="as root").exists()
    assert ">root</option>" not in response.content.decode()  # not even offered
    # ... nor revoking theirs.
    web.post(
        "/admin/portal/apitoken/", {"action": "revoke", "_selected_action": [foreign.pk, own.pk]}
    )
    foreign.refresh_from_db()
    own.refresh_from_db()
    assert foreign.revoked_at is None and own.revoked_at is not None

    admin_listing = _client(root).get("/admin/portal/apitoken/").content.decode()
    assert "own laptop" in admin_listing and "root automation" in admin_listing


def test_audit_regions_and_sign_in_records_follow_the_policy(make_user: Any, root: Any) -> None:
    content = _grant(
        make_user("staff_content", Role.CONTENT_MANAGER, is_staff=True),
        "view_auditevent",
        "view_region",
        "add_region",
        "change_region",
        "view_accessattempt",
        "delete_accessattempt",
        "view_accesslog",
    )
    web = _client(content)
    for url in (
        "/admin/portal/auditevent/",
        "/admin/portal/region/add/",
        "/admin/axes/accessattempt/",
        "/admin/axes/accesslog/",
    ):
        assert web.get(url).status_code == 403, url
    web.post("/admin/portal/region/add/", {"code": "east", "name": "East"})
    from portal.models import Region

    assert not Region.objects.filter(code="east").exists()

    compliance = _grant(
        make_user("staff_compliance", Role.COMPLIANCE, is_staff=True),
        "view_auditevent",
        "view_accessattempt",
    )
    assert _client(compliance).get("/admin/portal/auditevent/").status_code == 200
    assert _client(compliance).get("/admin/axes/accessattempt/").status_code == 200
    admin_web = _client(root)
    for url in ("/admin/portal/auditevent/", "/admin/portal/region/", "/admin/axes/accessattempt/"):
        assert admin_web.get(url).status_code == 200, url
