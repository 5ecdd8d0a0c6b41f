"""Single sign-on pages: start the sign-in at the provider, its callback, "no access"."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from scim2_server.requests import ScimRequest

from portal.identity import oidc, scim
from portal.identity.services import NoAccess, sso_failed, sso_sign_in
from portal.mfa import STATE as MFA_STATE

logger = logging.getLogger(__name__)

SESSION_NEXT = "portal_sso_next"
SESSION_ID_TOKEN = "portal_sso_id_token"  # noqa: S105 - a session key: id_token_hint at logout
BACKEND = "django.contrib.auth.backends.ModelBackend"  # the session's; SSO checked the user


def _safe_next(request: HttpRequest, target: str) -> str:
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else reverse(settings.LOGIN_REDIRECT_URL)


@require_GET
def sso_login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the provider (state, nonce and PKCE kept in the session)."""
    if not oidc.enabled():
        raise Http404("Single sign-on is not configured.")
    request.session[SESSION_NEXT] = _safe_next(request, request.GET.get(REDIRECT_FIELD_NAME, ""))
    try:
        return oidc.authorize_redirect(request, request.build_absolute_uri(reverse("sso_callback")))
    except oidc.SignInFailed as failure:
        sso_failed(code=failure.code, detail=failure.detail)
        logger.warning("single sign-on could not start: %s", failure)
        return _failed(request, failure.code, status=503)


@require_GET
def sso_callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: validate it, find or create the account, sign it in."""
    if not oidc.enabled():
        raise Http404("Single sign-on is not configured.")
    try:
        claims = oidc.claims_from_callback(request)
    except oidc.SignInFailed as failure:
        sso_failed(code=failure.code, detail=failure.detail)
        logger.warning("single sign-on refused: %s", failure)
        status = 503 if failure.code == "provider_unreachable" else 400
        return _failed(request, failure.code, status=status)
    try:
        user = sso_sign_in(
            issuer=claims.issuer,
            claims=claims.claims,
            groups_claim=settings.OIDC_GROUPS_CLAIM,
            username_claim=settings.OIDC_USERNAME_CLAIM,
        )
    except NoAccess as refusal:
        return render(
            request,
            "registration/sso_no_access.html",
            {"reason": refusal.reason, "provider": settings.OIDC_DISPLAY_NAME},
            status=403,
        )
    target = request.session.pop(SESSION_NEXT, "") or reverse(settings.LOGIN_REDIRECT_URL)
    login(request, user, backend=BACKEND)  # a new session key: nothing of before carries over
    request.session[SESSION_ID_TOKEN] = claims.id_token
    request.session[MFA_STATE] = ""  # the identity provider applies its own MFA
    return redirect(_safe_next(request, target))


def _failed(request: HttpRequest, code: str, status: int) -> HttpResponse:
    return render(
        request,
        "registration/sso_failed.html",
        {"code": code, "provider": settings.OIDC_DISPLAY_NAME},
        status=status,
    )


@csrf_exempt
def scim_endpoint(request: HttpRequest, path: str = "") -> HttpResponse:
    """SCIM 2.0 (/scim/v2/...): the provider's provisioning client, by bearer token only
    (the browser session is not used). ``portal.identity.scim``."""
    scim_request = ScimRequest(
        method=request.method or "GET",
        base_url=request.build_absolute_uri("/scim/v2"),
        path="/" + path.removesuffix(".scim"),
        query={key: request.GET[key] for key in request.GET},
        headers=dict(request.headers),
        body=request.body,
    )
    response = scim.serve(scim_request)
    body = b"" if response.body is None else json.dumps(response.body).encode()
    answer = HttpResponse(body, status=response.status.value)
    for name, value in response.headers.items():
        answer[name] = value
    return answer
