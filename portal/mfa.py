"""Multi-factor authentication for local accounts: TOTP (django-otp) and recovery codes.

A local account may enrol an authenticator app (a TOTP device, shown as a QR code made
here, never by an outside service); accounts of the roles in ``MFA_REQUIRED_ROLES``
(admin and compliance by default) must. Enrolling also gives ten single-use recovery codes
(a django-otp static device), shown once. After a password sign-in, an account with a
device must give a code (or a recovery code) before any page or API call with that
session; ``portal.middleware.MfaMiddleware`` enforces it. Accounts signed in through
single sign-on are left to the identity provider's MFA.

django-otp checks the codes: a TOTP code is accepted once (a replay within its window is
refused) and failures slow further attempts down (throttling, per device).
"""

from __future__ import annotations

from dataclasses import dataclass

import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.permissions import user_roles
from portal.services import audit_event_record
from portal.types import AnyUser, User

STATE = "portal_mfa"  # session: "verify" (code needed), "enrol" (device needed) or ""
VERIFIED_AT = "portal_mfa_verified_at"  # session: when the last code was accepted
SSO_SESSION = "portal_sso_id_token"  # set by portal.identity.views for SSO sign-ins
RECOVERY_CODES = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def mfa_required(user: AnyUser) -> bool:
    """Whether the user's roles require MFA (``MFA_REQUIRED_ROLES``)."""
    required = set(settings.MFA_REQUIRED_ROLES)
    return any(role.value in required for role in user_roles(user))


def mfa_device(user: AnyUser) -> TOTPDevice | None:
    """The user's confirmed authenticator, if any."""
    if not user.is_authenticated:
        return None
    device: TOTPDevice | None = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first()
    return device


def recovery_codes_left(user: AnyUser) -> int:
    return StaticToken.objects.filter(device__user_id=user.pk, device__confirmed=True).count()


def state_after_password_sign_in(user: User) -> str:
    """What the session still needs after a password: "verify", "enrol" or ""."""
    if mfa_device(user) is not None:
        return "verify"
    return "enrol" if mfa_required(user) else ""


def enrolment_device(user: User) -> TOTPDevice:
    """The unconfirmed authenticator being enrolled (made once, reused until confirmed)."""
    device: TOTPDevice | None = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code (made here, nothing fetched)."""
    svg: str = segno.make(device.config_url, error="m").svg_inline(scale=4, border=2)
    return svg


@dataclass(frozen=True)
class Enrolled:
    device: TOTPDevice
    recovery_codes: list[str]


@transaction.atomic
def enrol_confirm(*, request: HttpRequest, user: User, code: str) -> Enrolled | None:
    """Confirm the enrolment with a code from the app: replaces any earlier authenticator
    and recovery codes, marks this session verified. None when the code is wrong."""
    device = enrolment_device(user)
    if not device.verify_token(code.strip().replace(" ", "")):
        audit_event_record(action="auth.mfa_failed", actor=user, details={"step": "enrol"})
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    _verified(request, device)
    audit_event_record(action="auth.mfa_enrolled", actor=user, target=user)
    return Enrolled(device, codes)


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes


@transaction.atomic
def recovery_codes_renew(*, user: User) -> list[str]:
    """Ten new recovery codes (the old ones stop working); needs a verified session."""
    codes = _new_recovery_codes(user)
    audit_event_record(action="auth.mfa_recovery_codes_renewed", actor=user, target=user)
    return codes


def verify(*, request: HttpRequest, user: User, code: str) -> bool:
    """Check a code from the authenticator, or a recovery code (used up); on success the
    session is verified."""
    code = code.strip().replace(" ", "")
    device = mfa_device(user)
    if device is not None and code.isdigit() and device.verify_token(code):
        _verified(request, device)
        audit_event_record(action="auth.mfa_verified", actor=user, details={"method": "totp"})
        return True
    for static in StaticDevice.objects.filter(user=user, confirmed=True):
        if static.verify_token(code):  # removes the code: single use
            _verified(request, static)
            audit_event_record(
                action="auth.mfa_verified",
                actor=user,
                details={"method": "recovery_code", "left": recovery_codes_left(user)},
            )
            return True
    audit_event_record(action="auth.mfa_failed", actor=user, details={"step": "verify"})
    return False


def _verified(request: HttpRequest, device: TOTPDevice | StaticDevice) -> None:
    otp_login(request, device)
    request.session[STATE] = ""
    request.session[VERIFIED_AT] = timezone.now().timestamp()


def recently_verified(request: HttpRequest, minutes: int = 15) -> bool:
    """Whether this session gave a code within ``minutes`` (for sensitive steps)."""
    at = request.session.get(VERIFIED_AT)
    return isinstance(at, int | float) and timezone.now().timestamp() - at <= minutes * 60
