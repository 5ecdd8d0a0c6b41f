"""Sign-in, password change and the lockout answer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from portal.identity import oidc
from portal.identity.views import SESSION_ID_TOKEN
from portal.permissions import Action, can
from portal.services import audit_event_record
from portal.types import User


class PortalAuthenticationForm(AuthenticationForm):
    """Refuses accounts whose roles do not include signing in to the portal.

    The refusal looks exactly like a wrong password (same message, and it counts as a failed
    sign-in towards the lockout), so that the page never confirms the password of an
    API-only account; the audit trail records the real reason (``auth.login_refused``).
    """

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not can(user, Action.USE_PORTAL):
            audit_event_record(action="auth.login_refused", actor=user, details={"reason": "role"})
            # What authenticate() signals for a wrong password: axes counts it, and the
            # audit trail gets its auth.login_failed like any other failure.
            user_login_failed.send(
                sender=type(self).__name__,
                credentials={"username": self.cleaned_data.get("username", "")},
                request=self.request,
            )
            raise self.get_invalid_login_error()

    def clean(self) -> dict[str, Any]:
        """With ``LOCAL_LOGIN_ALLOWED`` set, only those break-glass accounts may use a
        password; everyone else signs in through the identity provider."""
        allowed = {name.casefold() for name in settings.LOCAL_LOGIN_ALLOWED}
        username = str(self.data.get("username", ""))
        if allowed and username.casefold() not in allowed:
            audit_event_record(
                action="auth.local_login_refused",
                actor_username=username[:150],
                details={"reason": "not_break_glass"},
            )
            raise forms.ValidationError(
                "Password sign-in is kept for named emergency accounts. "
                "Use the single sign-on button above.",
                code="local_login_not_allowed",
            )
        return super().clean()


class LoginView(auth_views.LoginView):
    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["sso_enabled"] = oidc.enabled()
        context["sso_name"] = settings.OIDC_DISPLAY_NAME
        context["local_login_limited"] = bool(settings.LOCAL_LOGIN_ALLOWED)
        return context


class LogoutView(auth_views.LogoutView):
    """Ends the portal session; after a single sign-on, also the provider's (RP-initiated
    logout, where the provider offers it), which then sends the browser back here."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        id_token = request.session.get(SESSION_ID_TOKEN, "")
        response: HttpResponse = super().post(request, *args, **kwargs)
        if id_token and oidc.enabled():
            back = request.build_absolute_uri(reverse(settings.LOGOUT_REDIRECT_URL))
            url = oidc.logout_url(id_token, back)
            if url:
                return redirect(url)
        return response


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's sign-in page is the portal's: one form, one lockout, one audit trail.

    Django's own admin form would sign in any active staff account, API-only ones included
    (the portal refuses them, ``PortalAuthenticationForm``). Anonymous visitors go to the
    portal's sign-in with ``next``; a signed-in user the admin sends here (not staff) is
    refused (403) instead of bounced between the two pages.
    """
    target = request.GET.get(REDIRECT_FIELD_NAME, "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    target = target if safe and target else reverse("admin:index")
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?{urlencode({REDIRECT_FIELD_NAME: target})}")
    if admin.site.has_permission(request):
        return redirect(target)
    raise PermissionDenied("Your account may not use the administration site.")


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_event_record(action="auth.password_changed", actor=self.request.user)
        return response


def lockout_response(
    request: HttpRequest, credentials: Any = None, *args: Any, **kw: Any
) -> HttpResponse:
    """What a throttled sign-in attempt sees (django-axes calls this)."""
    cooloff = settings.AXES_COOLOFF_TIME
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": int(cooloff.total_seconds() // 60),
    }
    return render(request, "registration/lockout.html", context, status=429)
