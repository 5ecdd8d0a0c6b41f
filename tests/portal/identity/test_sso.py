"""Single sign-on end to end: the portal's SSO button, the real provider's login form, the
callback, the account found by subject, roles and regions from groups at every sign-in."""

from __future__ import annotations

from typing import Any

import requests
from django.contrib.auth import get_user_model

from portal.models import AuditEvent, ExternalIdentity
from portal.permissions import Role, region_ids_of, user_roles
from tests.portal.identity.conftest import provider_sign_in


def _user(sub: str) -> Any:
    return ExternalIdentity.objects.select_related("user").get(subject=sub).user


def test_first_sign_in_creates_the_account_with_the_roles_and_regions_of_its_groups(
    sso: Any, live_server: Any, regions: Any
) -> None:
    done = provider_sign_in(live_server.url, "alice")
    assert done.response.status_code == 200, done.response.text[:500]
    assert done.response.url == f"{live_server.url}/"  # the dashboard
    assert "Alice" in done.response.text or "alice" in done.response.text
    user = _user("u-alice-7f3a")
    assert user.username == "alice" and user.email == "alice@bank.example"
    assert not user.has_usable_password()  # only the provider signs this account in
    assert user_roles(user) == {Role.AGENT}
    assert region_ids_of(user) == [regions["north"].pk]
    identity = ExternalIdentity.objects.get(user=user)
    assert identity.issuer == sso.issuer
    assert identity.groups == ["all-staff", "portal-agents-north"]
    event = AuditEvent.objects.filter(action="auth.sso_login").latest("pk")
    assert event.actor == user and event.details["created"] is True
    assert event.details["roles"] == ["agent"] and event.details["regions"] == ["north"]
    # The API and pages see the session: the agent's customer search answers.
    assert done.session.get(f"{live_server.url}/api/v1/me/", timeout=10).json()["username"] == (
        "alice"
    )


def test_groups_are_re_synced_at_every_sign_in(sso: Any, live_server: Any, regions: Any) -> None:
    first = provider_sign_in(live_server.url, "alice")
    assert first.response.status_code == 200
    # Moved to the south branch at the provider: the next sign-in moves her here too.
    sso.set_groups("u-alice-7f3a", ["portal-agents-south"])
    again = provider_sign_in(live_server.url, "alice")
    assert again.response.status_code == 200
    user = _user("u-alice-7f3a")
    assert user_roles(user) == {Role.AGENT}
    assert region_ids_of(user) == [regions["south"].pk]
    assert ExternalIdentity.objects.count() == 1  # the same account, found by subject

    # Every group removed at the provider: no access at the next sign-in, and the first
    # session (still open) loses its access on its next request.
    sso.set_groups("u-alice-7f3a", ["all-staff"])
    refused = provider_sign_in(live_server.url, "alice")
    assert refused.response.status_code == 403
    assert 'data-sso-no-access="no_mapped_group"' in refused.response.text
    user = _user("u-alice-7f3a")
    assert user_roles(user) == frozenset() and region_ids_of(user) == []
    stale = first.session.get(f"{live_server.url}/api/v1/me/", timeout=10)
    assert stale.status_code in (401, 403), stale.text[:300]
    page = first.session.get(f"{live_server.url}/customers/", timeout=10, allow_redirects=False)
    assert page.status_code in (302, 403)


def test_an_unmapped_user_gets_a_no_access_page_an_audit_event_and_no_account(
    sso: Any, live_server: Any
) -> None:
    done = provider_sign_in(live_server.url, "bob")
    assert done.response.status_code == 403
    assert "none of your groups gives access" in done.response.text
    assert not ExternalIdentity.objects.filter(subject="u-bob-91c2").exists()
    assert not get_user_model().objects.filter(username__startswith="bob").exists()
    event = AuditEvent.objects.filter(action="auth.sso_refused").latest("pk")
    assert event.details["reason"] == "no_mapped_group"
    assert event.details["subject"] == "u-bob-91c2"
    assert event.details["groups"] == ["all-staff", "canteen-committee"]
    # Not signed in to the portal.
    me = done.session.get(f"{live_server.url}/api/v1/me/", timeout=10)
    assert me.status_code in (401, 403)


def test_accounts_are_matched_by_subject_never_by_email(
    sso: Any, live_server: Any, make_user: Any
) -> None:
    local = make_user("alice", Role.ADMIN, email="alice@bank.example")
    done = provider_sign_in(live_server.url, "alice")
    assert done.response.status_code == 200
    user = _user("u-alice-7f3a")
    assert user.pk != local.pk and user.username == "alice-2"
    assert user_roles(user) == {Role.AGENT}
    local.refresh_from_db()
    assert user_roles(local) == {Role.ADMIN} and local.has_usable_password()


def test_a_disabled_account_stays_out(sso: Any, live_server: Any) -> None:
    assert provider_sign_in(live_server.url, "carol").response.status_code == 200
    user = _user("u-carol-55d0")
    user.is_active = False
    user.save()
    done = provider_sign_in(live_server.url, "carol")
    assert done.response.status_code == 403
    assert 'data-sso-no-access="account_disabled"' in done.response.text


def test_a_callback_cannot_be_replayed(sso: Any, live_server: Any) -> None:
    done = provider_sign_in(live_server.url, "carol")
    assert done.response.status_code == 200 and done.callback_url
    logins = AuditEvent.objects.filter(action="auth.sso_login").count()
    # The same code and state again, in the same browser and in another one.
    for session in (done.session, requests.Session()):
        replay = session.get(done.callback_url, timeout=10)
        assert replay.status_code == 400
        assert 'data-sso-failed="state_invalid"' in replay.text
    assert AuditEvent.objects.filter(action="auth.sso_login").count() == logins
    failed = AuditEvent.objects.filter(action="auth.sso_failed").latest("pk")
    assert failed.details["reason"] == "state_invalid"


def test_a_forged_or_incomplete_callback_is_refused(sso: Any, live_server: Any) -> None:
    session = requests.Session()
    for query, code in (
        ("code=abc&state=never-issued", "state_invalid"),
        ("state=only", "bad_callback"),
        ("error=access_denied&error_description=no", "provider_error"),
    ):
        response = session.get(f"{live_server.url}/accounts/sso/callback/?{query}", timeout=10)
        assert response.status_code == 400, (query, response.status_code)
        assert f'data-sso-failed="{code}"' in response.text, query


def test_wrong_password_at_the_provider_signs_nobody_in(sso: Any, live_server: Any) -> None:
    done = provider_sign_in(live_server.url, "alice", password="wrong")
    assert "Invalid username or password" in done.response.text
    assert not ExternalIdentity.objects.exists()


def test_the_login_page_offers_sso_first(sso: Any, client: Any) -> None:
    response = client.get("/accounts/login/")
    # Every page's sign-out form ends at the provider: its origin may receive the redirect.
    csp = response["Content-Security-Policy"]
    assert f"form-action 'self' {sso.issuer}" in csp, csp
    page = response.content.decode()
    assert "data-sso-button" in page and "Sign in with Bank SSO" in page
    assert page.index("data-sso-button") < page.index('name="password"')


def test_sign_out_ends_the_provider_session_too(sso: Any, live_server: Any) -> None:
    done = provider_sign_in(live_server.url, "carol")
    assert done.response.status_code == 200
    csrf = done.session.cookies.get("csrftoken") or ""
    out = done.session.post(
        f"{live_server.url}/accounts/logout/",
        headers={"X-CSRFToken": csrf, "Referer": f"{live_server.url}/"},
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 302
    assert out.headers["Location"].startswith(f"{sso.issuer}/session/end")
    assert "id_token_hint=" in out.headers["Location"]
    me = done.session.get(f"{live_server.url}/api/v1/me/", timeout=10)
    assert me.status_code in (401, 403)
