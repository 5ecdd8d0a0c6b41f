"""Login, logout, password change, throttling and session security."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.test import Client, override_settings
from django.urls import reverse

from portal.models import AuditEvent
from portal.permissions import Role
from portal.settings import base as base_settings

PASSWORD = "correct horse battery staple"


def _login(client: Client, username: str, password: str = PASSWORD, ip: str = "10.0.0.1") -> Any:
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


@pytest.mark.django_db
def test_login_logout_are_audited(client: Client, make_user: Any) -> None:
    user = make_user("alice", Role.AGENT)
    response = _login(client, "alice")
    assert response.status_code == 302
    assert response.url == reverse("portal:dashboard")
    assert client.get(reverse("portal:dashboard")).status_code == 200
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor_id == user.pk
    assert login.ip_address == "10.0.0.1"
    assert login.request_id

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor=user).exists()
    assert client.get(reverse("portal:dashboard")).status_code == 302  # back to login


@pytest.mark.django_db
def test_failed_login_is_audited_without_password(client: Client, make_user: Any) -> None:
    make_user("bob", Role.AGENT)
    response = _login(client, "bob", "wrong password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor_username == "bob"
    assert "wrong password" not in event.details_json


@pytest.mark.django_db
def test_session_key_changes_at_login(client: Client, make_user: Any) -> None:
    make_user("carol", Role.AGENT)
    client.get(reverse("login"))
    session = client.session
    session["marker"] = 1
    session.save()
    before = session.session_key
    _login(client, "carol")
    assert client.session.session_key != before


@pytest.mark.django_db
def test_deactivated_user_loses_session(client: Client, make_user: Any) -> None:
    user = make_user("dave", Role.AGENT)
    _login(client, "dave")
    assert client.get(reverse("portal:dashboard")).status_code == 200
    user.is_active = False
    user.save()
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_throttled_per_username(client: Client, make_user: Any) -> None:
    make_user("erin", Role.AGENT)
    limit = settings.AXES_FAILURE_LIMIT
    for attempt in range(limit - 1):
        assert _login(client, "erin", "nope", ip=f"10.1.0.{attempt}").status_code == 200
    # The limit is reached from yet other addresses: the account itself is throttled.
    response = _login(client, "erin", "nope", ip="10.1.1.1")
    assert response.status_code == 429
    assert "too many failed sign-in attempts" in response.content.decode()
    # Even the right password is refused while locked, from any address.
    assert _login(client, "erin", ip="10.1.2.2").status_code == 429
    assert AuditEvent.objects.filter(action="auth.locked_out").exists()


@pytest.mark.django_db
def test_throttled_per_ip(client: Client, make_user: Any) -> None:
    make_user("frank", Role.AGENT)
    # A higher limit than per user name: a branch behind one address is not locked by a few
    # typos (tests/portal/test_lockout.py), a spray of guesses from one address is.
    limit = settings.LOGIN_IP_FAILURE_LIMIT
    assert limit > settings.AXES_FAILURE_LIMIT
    for attempt in range(limit):
        _login(client, f"nobody{attempt}", "nope", ip="10.2.0.9")
    assert _login(client, "frank", ip="10.2.0.9").status_code == 429
    # Another address is not affected.
    assert _login(client, "frank", ip="10.2.0.10").status_code == 302


def _login_errors(response: Any) -> list[str]:
    return list(response.context["form"].non_field_errors())


@pytest.mark.django_db
def test_integration_account_cannot_use_portal(client: Client, make_user: Any) -> None:
    make_user("robot", Role.INTEGRATION)
    right = _login(client, "robot")
    assert right.status_code == 200
    assert "_auth_user_id" not in client.session
    # The page never confirms the password of an API-only account: the right password gets
    # exactly the wrong password's answer.
    wrong = _login(Client(), "robot", "not the password")
    assert _login_errors(right) == _login_errors(wrong)
    assert "may not sign in" not in right.content.decode()
    # The audit trail knows why.
    refused = AuditEvent.objects.get(action="auth.login_refused")
    assert refused.details == {"reason": "role"}
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 2


@pytest.mark.django_db
def test_refused_account_counts_towards_the_lockout_like_a_wrong_password(
    client: Client, make_user: Any
) -> None:
    make_user("robot", Role.INTEGRATION)
    make_user("alice", Role.AGENT)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "robot")  # the right password, every time
        _login(client, "alice", "wrong")
    # The same attempt locks both: a correct guess is not told apart by a missing lockout.
    assert _login(client, "robot").status_code == 429
    assert _login(client, "alice", "wrong").status_code == 429


@pytest.mark.django_db
def test_password_change(client: Client, make_user: Any) -> None:
    user = make_user("gina", Role.AGENT)
    _login(client, "gina")
    new = "an entirely new passphrase 42"
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=user).exists()
    # The session survives its own password change.
    assert client.get(reverse("portal:dashboard")).status_code == 200


def test_argon2_is_the_password_hasher() -> None:
    assert base_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    with override_settings(PASSWORD_HASHERS=base_settings.PASSWORD_HASHERS):
        assert make_password("x" * 20).startswith("argon2$argon2id$")


@pytest.mark.django_db
def test_login_page_renders(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


@pytest.mark.django_db
def test_the_admin_signs_in_through_the_portal_only(client: Client, make_user: Any) -> None:
    # Django's own admin form signed in any active staff account: a staff integration
    # (API-only) account got an admin session the portal's sign-in refuses it.
    make_user("robot", Role.INTEGRATION, is_staff=True)
    make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    entry = client.get("/admin/")
    assert entry.status_code == 302 and entry.url.startswith("/admin/login/")
    to_portal = client.get(entry.url)
    assert to_portal.status_code == 302 and to_portal.url == "/accounts/login/?next=%2Fadmin%2F"
    # A sign-in posted to the admin's page signs no one in.
    posted = client.post("/admin/login/", {"username": "robot", "password": PASSWORD})
    assert posted.status_code == 302 and "_auth_user_id" not in client.session
    refused = client.post(to_portal.url, {"username": "robot", "password": PASSWORD})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    signed_in = client.post(to_portal.url, {"username": "root", "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in.url == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/login/?next=/admin/portal/").url == "/admin/portal/"


@pytest.mark.django_db
def test_a_signed_in_user_without_the_admin_is_refused_not_bounced(
    client: Client, make_user: Any
) -> None:
    make_user("alice", Role.AGENT)
    _login(client, "alice")
    entry = client.get("/admin/")
    assert entry.status_code == 302 and entry.url.startswith("/admin/login/")
    assert client.get(entry.url).status_code == 403


@pytest.mark.django_db
def test_the_admin_sign_in_never_redirects_off_site(client: Client) -> None:
    response = client.get("/admin/login/?next=https://evil.example/")
    assert response.url == "/accounts/login/?next=%2Fadmin%2F"
