"""Multi-factor authentication of local accounts: enrolment (QR made here), enforcement per
role, codes at sign-in (no replay, throttled), recovery codes (single use), API tokens."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client, override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import AuditEvent
from portal.permissions import Role

PASSWORD = "correct horse battery staple"


def _sign_in(user: Any) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _now_code(device: TOTPDevice) -> str:
    return str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)).zfill(6)


def _enrol(client: Client, user: Any) -> list[str]:
    page = client.get("/accounts/mfa/enrol/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "data-mfa-secret" in html  # the QR code, made here
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post("/accounts/mfa/enrol/", {"code": _now_code(device), "next": "/"})
    assert done.status_code == 200, done.content.decode()[:400]
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return list(codes)


@pytest.mark.django_db
@override_settings(MFA_REQUIRED_ROLES=["admin"])
def test_a_required_role_must_enrol_before_anything_else(make_user: Any) -> None:
    admin = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    client = _sign_in(admin)
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/mfa/enrol/?next=")
    api = client.get("/api/v1/me/")
    assert api.status_code == 403 and "multi-factor" in api.json()["message"]
    assert client.get("/admin/").status_code == 302
    # A wrong first code is refused (and the refusal slows the next try down).
    TOTPDevice.objects.filter(user=admin).delete()
    client.get("/accounts/mfa/enrol/")
    wrong = client.post("/accounts/mfa/enrol/", {"code": "000000"})
    assert wrong.status_code == 400 and "data-mfa-error" in wrong.content.decode()
    time.sleep(1.1)  # django-otp's throttle after one failure
    _enrol(client, admin)
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.mfa_enrolled", actor=admin).exists()
    assert AuditEvent.objects.filter(action="auth.mfa_failed", actor=admin).exists()


@pytest.mark.django_db
def test_an_enrolled_account_gives_a_code_at_each_sign_in(make_user: Any) -> None:
    agent = make_user("agent1", Role.AGENT)  # not required: enrols by choice
    first = _sign_in(agent)
    assert first.get("/").status_code == 200  # no enforcement before a device exists
    codes = _enrol(first, agent)
    device = TOTPDevice.objects.get(user=agent, confirmed=True)
    used = _now_code(device)

    again = _sign_in(agent)
    assert again.get("/")["Location"].startswith("/accounts/mfa/verify/")
    # The code that confirmed the enrolment cannot be used again (replay).
    replay = again.post("/accounts/mfa/verify/", {"code": used, "next": "/"})
    assert replay.status_code == 400
    time.sleep(1.1)
    # A recovery code works once.
    ok = again.post("/accounts/mfa/verify/", {"code": codes[0], "next": "/customers/"})
    assert ok.status_code == 302 and ok["Location"] == "/customers/"
    assert again.get("/").status_code == 200
    assert StaticToken.objects.filter(device__user=agent).count() == 9

    third = _sign_in(agent)
    reused = third.post("/accounts/mfa/verify/", {"code": codes[0]})
    assert reused.status_code == 400
    assert third.get("/").status_code == 302
    event = AuditEvent.objects.filter(action="auth.mfa_verified", actor=agent).latest("pk")
    assert event.details == {"method": "recovery_code", "left": 9}


@pytest.mark.django_db
def test_an_open_redirect_is_not_followed_after_the_code(make_user: Any) -> None:
    agent = make_user("agent1", Role.AGENT)
    codes = _enrol(_sign_in(agent), agent)
    client = _sign_in(agent)
    done = client.post("/accounts/mfa/verify/", {"code": codes[1], "next": "https://evil.example/"})
    assert done.status_code == 302 and done["Location"] == "/"


@pytest.mark.django_db
def test_new_api_tokens_need_a_recent_code(make_user: Any) -> None:
    root = make_user("root", Role.ADMIN, is_staff=True, is_superuser=True)
    plain = Client()
    plain.force_login(root)  # a session that gave no code
    assert plain.get("/admin/portal/apitoken/add/").status_code == 403
    client = _sign_in(root)
    _enrol(client, root)
    assert client.get("/admin/portal/apitoken/add/").status_code == 200
    # New recovery codes also need the recent code; the old ones stop working.
    renewed = client.post("/accounts/mfa/recovery-codes/")
    assert renewed.status_code == 200 and len(renewed.context["codes"]) == 10
    assert StaticToken.objects.filter(device__user=root).count() == 10


@pytest.mark.django_db
def test_the_overview_page_says_where_one_stands(make_user: Any) -> None:
    agent = make_user("agent1", Role.AGENT)
    client = _sign_in(agent)
    assert "data-mfa-off" in client.get("/accounts/mfa/").content.decode()
    _enrol(client, agent)
    page = client.get("/accounts/mfa/").content.decode()
    assert "data-mfa-on" in page and "10 recovery codes left" in page
