"""Sign-in, password change and the lockout answer."""

from __future__ import annotations

from typing import Any

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


class LoginView(auth_views.LoginView):
    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True


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
