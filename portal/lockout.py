"""Sign-in lockout with two thresholds: django-axes' database handler plus a per-address limit.

django-axes compares one count with one limit. The portal lets it count failures per user
name (``AXES_LOCKOUT_PARAMETERS = ["username"]``, ``LOGIN_FAILURE_LIMIT``), whatever the
address, so that a successful sign-in (``AXES_RESET_ON_SUCCESS``) resets only that user
name's count and never another's. This handler adds the address: the failures recorded from
one IP address within the cool-off, whatever the user names, against the higher
``LOGIN_IP_FAILURE_LIMIT``. A branch behind one NAT address is not locked out by a few
people's typos; a password spray from one address is stopped. Both locks last
``LOGIN_COOLOFF_MINUTES`` after the last failure (axes' cool-off) and answer with
``portal.views.auth.lockout_response``; each lockout is audited as ``auth.locked_out``.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.conf import settings  # django.conf.settings with axes defaults filled in
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.db.models import Sum
from django.http import HttpRequest


class PortalLockoutHandler(AxesDatabaseHandler):
    """``AXES_HANDLER``: axes' per-user-name lockout, and a lockout per IP address."""

    def ip_failures(self, request: HttpRequest) -> int:
        """Failures recorded from the request's address within the cool-off, any user name."""
        address = request.axes_ip_address  # type: ignore[attr-defined]  # set by axes
        attempts = AccessAttempt.objects.filter(ip_address=address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        total: int | None = attempts.aggregate(total=Sum("failures_since_start"))["total"]
        return total or 0

    def is_ip_locked(self, request: HttpRequest) -> bool:
        if not settings.AXES_LOCK_OUT_AT_FAILURE:
            return False
        return self.ip_failures(request) >= settings.LOGIN_IP_FAILURE_LIMIT

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        return super().is_locked(request, credentials) or self.is_ip_locked(request)

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        # axes records the failure and locks the user name at its own limit ...
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.is_whitelisted(request, credentials) or not self.is_ip_locked(request):
            return
        # ... and the address at its limit, answered and signalled the way axes does.
        request.axes_locked_out = True  # type: ignore[attr-defined]
        request.axes_credentials = credentials  # type: ignore[attr-defined]
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        )
