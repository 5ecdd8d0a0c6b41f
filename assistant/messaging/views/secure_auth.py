"""Customers sign in: user name and password, then a one-time code e-mailed to them
(django-otp's e-mail device: a code holds a few minutes, wrong codes slow further tries).
The password step is throttled like the staff sign-in (django-axes, per user name); staff
accounts are refused here exactly like a wrong password, and customers are refused on the
staff sign-in the same way."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_email.models import EmailDevice

from assistant.messaging.forms import AuthenticatorForm, CodeForm, InvitationForm, SecureLoginForm
from assistant.messaging.services.invitations import invitation_accept, invitation_check
from assistant.messaging.views.decorators import secure_page
from knowledge.customers.selectors import own_customer
from portal.forms import add_form_error
from portal.mfa import STATE as MFA_STATE
from portal.mfa import enrol_confirm, enrolment_device, mfa_device, qr_svg
from portal.mfa import verify as mfa_verify
from portal.permissions import is_customer
from portal.services import audit_event_record
from portal.types import User

APP = "app"  # the pending sign-in's method: the authenticator app (else the e-mailed code)
PENDING = "secure_sign_in"  # session: {"user": id, "at": timestamp} between the two steps
MAX_CODE_FAILURES = 5
INVALID_LOGIN = "The user name or password is not right."
NO_ADDRESS = "We hold no e-mail address to send your sign-in code to: please call the bank."
SIGNED_IN = "You are signed in: sign out first, then open the link again."


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/secure/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("secure:home")


def _device(user: Any, *, lock: bool = False) -> EmailDevice:
    """The customer's e-mail device; its address is always the one on the customer record
    (not the account's, which nobody should be able to redirect the codes through)."""
    rows = EmailDevice.objects.filter(user=user, name="secure-sign-in")
    device = (rows.select_for_update() if lock else rows).first()
    if device is None:
        device = EmailDevice.objects.create(user=user, name="secure-sign-in", confirmed=True)
    customer = own_customer(user)
    address = customer.email if customer is not None else ""
    if device.email != address:
        device.email = address
        device.save(update_fields=["email"])
    return device


@never_cache
@sensitive_post_parameters("password")
def secure_login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and is_customer(request.user):
        return redirect(_next(request))
    form = SecureLoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if user is not None and (not is_customer(user) or own_customer(user) is None):
            # A staff account (or a customer without a record): refused like a wrong
            # password, counted towards the lockout, the real reason in the audit trail.
            audit_event_record(
                action="auth.login_refused", actor=user, details={"reason": "not_customer"}
            )
            user_login_failed.send(
                sender=__name__, credentials={"username": username}, request=request
            )
            user = None
        if user is None:
            error = INVALID_LOGIN
        elif mfa_device(user) is not None:
            # The authenticator app, not the mailbox: no code is e-mailed.
            request.session.cycle_key()
            request.session[PENDING] = {
                "user": user.pk,
                "at": timezone.now().timestamp(),
                "failures": 0,
                "next": _next(request),
                "method": APP,
            }
            return redirect("secure:code")
        else:
            if not _device(user).email:
                audit_event_record(
                    action="auth.login_refused", actor=user, details={"reason": "no_address"}
                )
                return render(
                    request,
                    "secure/login.html",
                    {"form": form, "error": NO_ADDRESS, "next": ""},
                    status=400,
                )
            request.session.cycle_key()
            request.session[PENDING] = {
                "user": user.pk,
                "at": timezone.now().timestamp(),
                "failures": 0,
                "next": _next(request),
            }
            _device(user).generate_challenge()
            audit_event_record(action="auth.code_sent", actor=user, details={"method": "email"})
            return redirect("secure:code")
    return render(
        request,
        "secure/login.html",
        {"form": form, "error": error, "next": request.GET.get("next", "")},
        status=400 if error else 200,
    )


def _pending_user(request: HttpRequest) -> Any:
    from django.contrib.auth import get_user_model

    pending = request.session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    age = timezone.now().timestamp() - float(pending.get("at", 0))
    if age > settings.OTP_EMAIL_TOKEN_VALIDITY:
        request.session.pop(PENDING, None)
        return None
    user_id = pending.get("user")
    if not isinstance(user_id, int):
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


@never_cache
@sensitive_post_parameters("code")
def secure_code(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("secure:login")
    form = CodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip().replace(" ", "")
        app = request.session[PENDING].get("method") == APP
        if app:
            # The app's code or a recovery code (django-otp: once each, throttled); audited.
            with transaction.atomic():
                accepted = mfa_verify(request=request, user=user, code=code)
        else:
            with transaction.atomic():  # the device row locked: a code signs in once
                accepted = code.isdigit() and _device(user, lock=True).verify_token(code)
        if accepted:
            target = request.session[PENDING].get("next") or reverse("secure:home")
            del request.session[PENDING]
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            # The second factor was this step (the app's code or the e-mailed one): nothing
            # is owed to the staff MFA pages, which customers never reach.
            request.session[MFA_STATE] = ""
            if not app:
                audit_event_record(
                    action="auth.mfa_verified", actor=user, details={"method": "email"}
                )
            return redirect(target)
        pending = request.session[PENDING]
        pending["failures"] = int(pending.get("failures", 0)) + 1
        request.session[PENDING] = pending
        if not app:
            audit_event_record(action="auth.mfa_failed", actor=user, details={"step": "email_code"})
        if pending["failures"] >= MAX_CODE_FAILURES:
            del request.session[PENDING]
            return redirect("secure:login")
        error = "That code is not right, or it has expired."
    if request.session.get(PENDING, {}).get("method") == APP:
        form.fields["code"].label = "Code from your authenticator app (or a recovery code)"
    return render(
        request,
        "secure/code.html",
        {
            "form": form,
            "error": error,
            "app": request.session.get(PENDING, {}).get("method") == APP,
        },
        status=400 if error else 200,
    )


@secure_page
@never_cache
@sensitive_post_parameters("password", "code")
def security(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app (TOTP) instead of the e-mailed code, with recovery codes
    shown once. Confirmed with a code from the app and the password (a session left open
    cannot swap the app); a new sign-in link never removes it (a supervisor does, after
    checking who calls)."""
    user = cast(User, request.user)  # secure_page: a signed-in customer
    form = AuthenticatorForm(request.POST or None)
    codes: list[str] = []
    if request.method == "POST" and form.is_valid():
        checked = authenticate(
            request, username=user.get_username(), password=form.cleaned_data["password"]
        )
        if checked is None or checked.pk != user.pk:
            form.add_error("password", "The password is not right.")
        else:
            enrolled = enrol_confirm(request=request, user=user, code=form.cleaned_data["code"])
            if enrolled is None:
                form.add_error(
                    "code", "That code is not right: check the app's clock and try again."
                )
            else:
                codes = enrolled.recovery_codes
    device = enrolment_device(user) if not codes else None
    return render(
        request,
        "secure/security.html",
        {
            "form": form,
            "has_app": mfa_device(user) is not None,
            "qr": qr_svg(device) if device is not None else "",
            "recovery_codes": codes,
        },
        status=400 if form.errors else 200,
    )


@require_POST
def secure_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("secure:login")


INVITATION = "secure_invitation"  # session: the token of the link being used


@never_cache
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation's link: the token moves into the session and the browser goes on to a
    URL without it (so that it stays out of access logs and Referer headers)."""
    if request.user.is_authenticated:
        # The link sets the password of the invited account, not of the one signed in here.
        return render(request, "secure/invitation.html", {"invalid": SIGNED_IN}, status=400)
    try:
        invitation_check(token)
    except ValidationError as error:
        return render(request, "secure/invitation.html", {"invalid": error.messages[0]}, status=404)
    request.session[INVITATION] = token
    return redirect("secure:invitation_password")


@never_cache
@sensitive_post_parameters("password", "password_again")
def invitation_password(request: HttpRequest) -> HttpResponse:
    """Choose the password of the invited account (the link is used up)."""
    if request.user.is_authenticated:
        return render(request, "secure/invitation.html", {"invalid": SIGNED_IN}, status=400)
    token = str(request.session.get(INVITATION, ""))
    try:
        invited = invitation_check(token)
    except ValidationError as error:
        return render(request, "secure/invitation.html", {"invalid": error.messages[0]}, status=404)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation_accept(
                token=token,
                password=form.cleaned_data["password"],
                password_again=form.cleaned_data["password_again"],
            )
        except ValidationError as error:
            if not hasattr(error, "error_dict"):
                return render(
                    request, "secure/invitation.html", {"invalid": error.messages[0]}, status=404
                )
            add_form_error(form, error)
        else:
            request.session.pop(INVITATION, None)
            return render(request, "secure/invitation_done.html")
    return render(
        request,
        "secure/invitation.html",
        {"form": form, "username": invited.user.get_username()},
        status=400 if form.errors else 200,
    )
