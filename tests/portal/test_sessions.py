"""Session control: idle and absolute limits, "your sessions", ending sessions (own, admin)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client, override_settings

from portal.models import AuditEvent, UserSession
from portal.permissions import Role
from portal.sessions import SEEN, STARTED

PASSWORD = "correct horse battery staple"


def _signed_in(user: Any, agent: str = "Firefox/140") -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    assert (
        client.post(
            "/accounts/login/", {"username": user.username, "password": PASSWORD}
        ).status_code
        == 302
    )
    return client


def _age(client: Client, key: str, seconds: float) -> None:
    session = client.session
    session[key] = time.time() - seconds
    session.save()


@pytest.mark.django_db
def test_a_sign_in_records_the_session(make_user: Any) -> None:
    agent = make_user("agent1", Role.AGENT)
    client = _signed_in(agent)
    row = UserSession.objects.get(user=agent)
    assert row.session_key == client.session.session_key
    assert row.user_agent == "Firefox/140" and row.ip_address == "127.0.0.1"
    assert row.ended_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "seconds", "reason"), [(SEEN, 31 * 60, "idle"), (STARTED, 8.1 * 3600, "absolute")]
)
def test_a_session_past_its_limit_is_signed_out_with_the_reason(
    make_user: Any, key: str, seconds: float, reason: str
) -> None:
    agent = make_user("agent1", Role.AGENT)
    client = _signed_in(agent)
    assert client.get("/").status_code == 200
    _age(client, key, seconds)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert "Your session ended after" in response.content.decode()
    row = UserSession.objects.get(user=agent)
    assert row.ended_at is not None and row.end_reason == reason
    event = AuditEvent.objects.get(action="auth.session_expired")
    assert event.details["reason"] == reason and event.target_id == str(agent.pk)
    # Under the API the same session is simply not signed in any more.
    assert client.get("/api/v1/me/").status_code in (401, 403)


@pytest.mark.django_db
def test_within_the_limits_a_session_goes_on(make_user: Any) -> None:
    agent = make_user("agent1", Role.AGENT)
    client = _signed_in(agent)
    _age(client, SEEN, 29 * 60)
    _age(client, STARTED, 7.9 * 3600)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200  # and its last use was written again
    with override_settings(SESSION_IDLE_TIMEOUT_MINUTES=0, SESSION_ABSOLUTE_HOURS=0):
        _age(client, SEEN, 10 * 3600)
        assert client.get("/").status_code == 200  # 0: no limit


@pytest.mark.django_db
def test_your_sessions_lists_and_ends_only_your_own(make_user: Any) -> None:
    agent = make_user("agent1", Role.AGENT)
    other = make_user("agent2", Role.AGENT)
    laptop = _signed_in(agent, "Laptop")
    phone = _signed_in(agent, "Phone")
    stranger = _signed_in(other, "Stranger")
    page = laptop.get("/accounts/sessions/").content.decode()
    assert "Laptop" in page and "Phone" in page and "Stranger" not in page
    assert "this session" in page
    phone_row = UserSession.objects.get(user_agent="Phone")
    stranger_row = UserSession.objects.get(user_agent="Stranger")
    # Someone else's session looks missing, and stays alive.
    assert laptop.post(f"/accounts/sessions/{stranger_row.pk}/end/").status_code == 404
    assert laptop.post("/accounts/sessions/99999999999999999999999/end/").status_code == 404
    assert laptop.get("/accounts/sessions/1/end/").status_code == 405
    assert stranger.get("/").status_code == 200
    # Ending the phone's session signs the phone out at once.
    assert laptop.post(f"/accounts/sessions/{phone_row.pk}/end/").status_code == 302
    assert phone.get("/").status_code == 302
    phone_row.refresh_from_db()
    assert phone_row.end_reason == "ended_by_user"
    assert AuditEvent.objects.filter(action="auth.session_ended", actor=agent).count() == 1
    # "Sign out every other session" keeps this one.
    tablet = _signed_in(agent, "Tablet")
    assert laptop.post("/accounts/sessions/end-others/").status_code == 302
    assert tablet.get("/").status_code == 302 and laptop.get("/").status_code == 200


@pytest.mark.django_db
def test_who_manages_users_ends_anyones_session_in_the_admin(make_user: Any) -> None:
    root = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    auditor = make_user("auditor", Role.COMPLIANCE, is_staff=True)
    agent = make_user("agent1", Role.AGENT)
    victim = _signed_in(agent, "Victim")
    row = UserSession.objects.get(user_agent="Victim")
    admin = Client()
    admin.force_login(root)
    listed = admin.get("/admin/portal/usersession/").content.decode()
    assert "agent1" in listed and row.session_key not in listed
    assert (
        row.session_key
        not in admin.get(f"/admin/portal/usersession/{row.pk}/change/").content.decode()
    )
    response = admin.post(
        "/admin/portal/usersession/", {"action": "end_sessions", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    assert victim.get("/").status_code == 302
    row.refresh_from_db()
    assert row.end_reason == "ended_by_admin"
    compliance = Client()
    compliance.force_login(auditor)
    assert compliance.get("/admin/portal/usersession/").status_code == 403
