"""Group mappings (seeded from OIDC_GROUP_MAP, edited in the admin by who manages users)
and the break-glass limit on password sign-in (LOCAL_LOGIN_ALLOWED)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management.sql import emit_post_migrate_signal
from django.test import Client, override_settings

from portal.identity.services import grants_of, group_mappings_seed
from portal.models import AuditEvent, GroupMapping
from portal.permissions import Role


@pytest.mark.django_db
def test_mappings_are_seeded_from_settings_and_admin_edits_are_kept(regions: Any) -> None:
    spec = "portal-agents-north=agent:north, portal-compliance=compliance, branch-south=:south"
    assert group_mappings_seed(spec) == 3
    assert group_mappings_seed(spec) == 0  # idempotent
    GroupMapping.objects.filter(group="portal-compliance").delete()  # an admin's decision
    GroupMapping.objects.create(group="portal-agents-north", role="supervisor")  # and another
    grants = grants_of(["portal-agents-north", "branch-south", "unknown"])
    assert grants.roles == {Role.AGENT, Role.SUPERVISOR}
    assert {r.code for r in grants.regions} == {"north", "south"}
    with override_settings(OIDC_GROUP_MAP="portal-auditors=compliance"):
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # a migrate
    assert GroupMapping.objects.filter(group="portal-auditors", role="compliance").exists()
    assert not GroupMapping.objects.filter(group="portal-compliance").exists()  # not re-added


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spec",
    [
        "portal-agents=wizard",  # no such role
        "portal-agents=agent:atlantis",  # no such region
        "=agent",  # no group
        "portal-agents",  # nothing granted
        "portal-agents=",
    ],
)
def test_a_bad_mapping_spec_says_what_is_wrong(regions: Any, spec: str) -> None:
    with pytest.raises(ValidationError, match="OIDC_GROUP_MAP"):
        group_mappings_seed(spec)
    assert not GroupMapping.objects.exists()


@pytest.mark.django_db
def test_only_who_manages_users_sees_the_mappings_in_the_admin(
    make_user: Any, regions: Any
) -> None:
    group_mappings_seed("portal-agents-north=agent:north")
    admin_user = make_user("boss", Role.ADMIN, is_staff=True, is_superuser=True)  # as the demo
    compliance = make_user("auditor", Role.COMPLIANCE, is_staff=True)
    for user, status in ((admin_user, 200), (compliance, 403)):
        client = Client()
        client.force_login(user)
        page = client.get("/admin/portal/groupmapping/")
        assert page.status_code == status, user
        if status == 200:
            assert "portal-agents-north" in page.content.decode()
    client = Client()
    client.force_login(admin_user)
    added = client.post(
        "/admin/portal/groupmapping/add/", {"group": "portal-sup-south", "role": "supervisor"}
    )
    assert added.status_code == 302
    bad = client.post("/admin/portal/groupmapping/add/", {"group": "x", "role": "wizard"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    assert GroupMapping.objects.filter(group="portal-sup-south", role="supervisor").exists()


@pytest.mark.django_db
def test_password_sign_in_can_be_limited_to_break_glass_accounts(make_user: Any) -> None:
    make_user("admin", Role.ADMIN, password="break-glass-password-2026")
    make_user("agent1", Role.AGENT, password="agent-password-2026")
    with override_settings(LOCAL_LOGIN_ALLOWED=["admin"]):
        refused = Client().post(
            "/accounts/login/", {"username": "agent1", "password": "agent-password-2026"}
        )
        assert refused.status_code == 200
        assert "Password sign-in is kept for named emergency accounts" in refused.content.decode()
        assert "_auth_user_id" not in refused.wsgi_request.session
        event = AuditEvent.objects.filter(action="auth.local_login_refused").latest("pk")
        assert event.actor_username == "agent1"
        allowed = Client().post(
            "/accounts/login/", {"username": "admin", "password": "break-glass-password-2026"}
        )
        assert allowed.status_code == 302
    # Without the setting every local account signs in.
    assert (
        Client()
        .post("/accounts/login/", {"username": "agent1", "password": "agent-password-2026"})
        .status_code
        == 302
    )


@pytest.mark.django_db
def test_without_sso_its_pages_are_missing(client: Any) -> None:
    assert client.get("/accounts/sso/login/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=a&state=b").status_code == 404
    assert "data-sso-button" not in client.get("/accounts/login/").content.decode()
