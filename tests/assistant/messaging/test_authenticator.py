"""Customers may sign in with an authenticator app (TOTP) instead of the e-mailed code: set
up with a code from the app and the password, recovery codes shown once; then no code is
e-mailed at sign-in, a new sign-in link does not remove the app (whoever holds the mailbox
cannot take the account over), and only a supervisor of the customer's region removes it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from assistant.messaging.services.invitations import customer_authenticator_remove
from portal.models import AuditEvent
from tests.support.smtp import Mailbox

pytestmark = pytest.mark.django_db

PASSWORD = "customer password 123"


def _code(device: TOTPDevice) -> str:
    return str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)).zfill(6)


def _enrolled(customer_user: Any) -> tuple[Client, list[str]]:
    client = Client()
    client.force_login(customer_user)
    page = client.get("/secure/security/")
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=customer_user, confirmed=False)
    wrong_password = client.post("/secure/security/", {"code": _code(device), "password": "not it"})
    assert wrong_password.status_code == 400
    assert not TOTPDevice.objects.filter(user=customer_user, confirmed=True).exists()
    done = client.post("/secure/security/", {"code": _code(device), "password": PASSWORD})
    assert done.status_code == 200, done.content[:500]
    codes = re.findall(r"<li>([a-z0-9]+)</li>", done.content.decode())
    assert len(codes) == 10
    return client, codes


def test_a_customer_signs_in_with_the_app_and_no_code_is_mailed(
    customer_user: Any, mailbox: Mailbox, settings: Any
) -> None:
    # Throttling (a wrong code slows the next) is django-otp's and tested with the e-mail
    # code; here a recovery code follows a wrong code at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = settings.OTP_STATIC_THROTTLE_FACTOR = 0
    _, codes = _enrolled(customer_user)
    sent_before = len(mailbox.to(customer_user.email))
    client = Client()
    response = client.post(
        "/secure/login/", {"username": customer_user.username, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/secure/login/code/"
    assert b"authenticator app" in client.get("/secure/login/code/").content
    assert len(mailbox.to(customer_user.email)) == sent_before  # nothing e-mailed
    assert client.post("/secure/login/code/", {"code": "123456"}).status_code == 400
    # A recovery code works once.
    response = client.post("/secure/login/code/", {"code": codes[0]})
    assert response.status_code == 302 and response["Location"] == "/secure/"
    assert client.get("/secure/").status_code == 200
    event = AuditEvent.objects.filter(action="auth.mfa_verified", actor=customer_user).last()
    assert event is not None and event.details["method"] == "recovery_code"
    again = Client()
    again.post("/secure/login/", {"username": customer_user.username, "password": PASSWORD})
    assert again.post("/secure/login/code/", {"code": codes[0]}).status_code == 400


def test_a_new_sign_in_link_keeps_the_app_and_supervisors_remove_it(
    customer_user: Any, staff: dict[str, Any], mailbox: Mailbox
) -> None:
    from assistant.messaging.services.invitations import invitation_send

    _enrolled(customer_user)
    customer = customer_user.customer_login.customer
    invitation_send(user=staff["agent"], customer_id=customer.pk)  # the recovery path
    assert TOTPDevice.objects.filter(user=customer_user, confirmed=True).exists()
    # The agent's page shows it; only a supervisor of the region removes it.
    agent = Client()
    agent.force_login(staff["agent"])
    page = agent.get(f"/customers/{customer.pk}/").content.decode()
    assert "data-customer-app" in page and "data-remove-app" not in page
    with pytest.raises(PermissionDenied):
        customer_authenticator_remove(user=staff["agent"], customer_id=customer.pk)
    south = Client()
    south.force_login(staff["south_agent"])
    assert south.post(f"/messages/authenticator/{customer.pk}/remove/").status_code == 404
    supervisor = Client()
    supervisor.force_login(staff["supervisor"])
    assert "data-remove-app" in supervisor.get(f"/customers/{customer.pk}/").content.decode()
    response = supervisor.post(f"/messages/authenticator/{customer.pk}/remove/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=customer_user).exists()
    assert not StaticDevice.objects.filter(user=customer_user).exists()
    event = AuditEvent.objects.get(action="customer.authenticator_removed")
    assert event.details["devices"] == 2
