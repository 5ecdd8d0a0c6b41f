"""Multi-factor authentication pages: enrol an authenticator, give a code, recovery codes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from portal import mfa
from portal.types import User


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else reverse("portal:dashboard")


@login_required
def mfa_overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "registration/mfa_overview.html",
        {
            "device": mfa.mfa_device(user),
            "required": mfa.mfa_required(user),
            "codes_left": mfa.recovery_codes_left(user),
            "sso": bool(request.session.get(mfa.SSO_SESSION)),
        },
    )


@login_required
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Scan the QR code (or type the key), then confirm with the first code."""
    user: User = request.user  # type: ignore[assignment]  # login_required
    if request.session.get(mfa.STATE) == "verify":
        return redirect(f"{reverse('mfa_verify')}?next={reverse('mfa_enrol')}")
    device = mfa.enrolment_device(user)
    error = ""
    if request.method == "POST":
        enrolled = mfa.enrol_confirm(request=request, user=user, code=request.POST.get("code", ""))
        if enrolled is not None:
            return render(
                request,
                "registration/mfa_recovery_codes.html",
                {"codes": enrolled.recovery_codes, "next": _next(request), "enrolled": True},
            )
        error = "That code is not right (or came too late). Enter the code the app shows now."
    secret = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
    return render(
        request,
        "registration/mfa_enrol.html",
        {
            "qr": mark_safe(mfa.qr_svg(device)),  # noqa: S308 - segno's SVG of our own URL
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "error": error,
            "next": _next(request),
            "required": mfa.mfa_required(user),
        },
        status=400 if error else 200,
    )


@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if mfa.mfa_device(user) is None:
        return redirect("mfa_overview")
    error = ""
    if request.method == "POST":
        if mfa.verify(request=request, user=user, code=request.POST.get("code", "")):
            return redirect(_next(request))
        error = "That code is not right. Try the code the app shows now, or a recovery code."
    return render(
        request,
        "registration/mfa_verify.html",
        {"error": error, "next": _next(request)},
        status=400 if error else 200,
    )


@require_POST
@login_required
def mfa_recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes: only right after giving a code (a recently verified session)."""
    user: User = request.user  # type: ignore[assignment]
    if mfa.mfa_device(user) is None or not mfa.recently_verified(request):
        return redirect(f"{reverse('mfa_verify')}?next={reverse('mfa_overview')}")
    codes = mfa.recovery_codes_renew(user=user)
    return render(
        request,
        "registration/mfa_recovery_codes.html",
        {"codes": codes, "next": reverse("mfa_overview"), "enrolled": False},
    )
