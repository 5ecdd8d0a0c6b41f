"""Request context (id, client address, user, route) for the audit trail and the logs; no
caching of what a signed-in user sees; a cap on request bodies."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

from portal import request_context
from portal.api.exceptions import error_response, is_api_request
from portal.formatting import format_size
from portal.mfa import STATE as MFA_STATE
from portal.permissions import is_customer
from portal.sessions import session_check, session_expired

# Our own ids are uuid4 hex; one passed on by a trusted proxy must look like an id too.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# What a client may send as X-Request-ID to be kept (apart) for correlation.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as error:
        raise ImproperlyConfigured(f"TRUSTED_PROXY_REQUEST_ID: {error}") from error


def _trusted_proxy(address: str | None) -> bool:
    """Whether ``address`` (REMOTE_ADDR) may set our request id (TRUSTED_PROXY_REQUEST_ID:
    False, True for any address, or a list of proxy addresses and networks)."""
    trusted: bool | Sequence[str] = getattr(settings, "TRUSTED_PROXY_REQUEST_ID", False)
    if isinstance(trusted, bool):
        return trusted
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(trusted)))


def _clear_context(**kwargs: Any) -> None:
    request_context.clear()


# The context lasts until the response is closed (after Django's own "Not Found: ..." log
# lines and a streamed body), not only until the view returns.
request_finished.connect(_clear_context, dispatch_uid="portal.request_context.clear")


class RequestContextMiddleware:
    """Gives each request an id of ours (uuid4; an X-Request-ID is taken as the id only from a
    trusted proxy, else kept apart as ``client_request_id``) and records the client IP, then
    the user and the route once they are known. Logs and the audit trail read it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        # REMOTE_ADDR only: behind a proxy, the proxy must set it (e.g. gunicorn's
        # --forwarded-allow-ips); a client-supplied X-Forwarded-For is never trusted.
        ip = request.META.get("REMOTE_ADDR") or None
        if _REQUEST_ID.match(incoming) and _trusted_proxy(ip):
            request_id = incoming
        else:
            request_id = request_context.new_request_id()
        client_request_id = incoming if _CLIENT_REQUEST_ID.match(incoming) else ""
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_context.set_current(
            request_context.RequestContext(
                request_id=request_id, ip_address=ip, client_request_id=client_request_id
            )
        )
        try:
            response = self.get_response(request)
        except BaseException:
            request_context.reset(token)
            raise
        response["X-Request-ID"] = request_id
        return response

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: dict[str, Any]
    ) -> None:
        match = request.resolver_match
        user = getattr(request, "user", None)
        request_context.update(
            route=(match.view_name if match else "") or "",
            user_id=user.pk if user is not None and user.is_authenticated else None,
        )


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (Django's never_cache headers) on every response to a
    signed-in user (session or API token) and on the sign-in page: what they show is personal
    and must stay out of browser and proxy caches. Static files (answered by WhiteNoise before
    any user is known) and the health endpoints keep their own caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if _signed_in(request) or (match is not None and match.view_name == "login"):
            add_never_cache_headers(response)
        return response


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    try:
        return user is not None and user.is_authenticated
    except DatabaseError:
        # The session could not be read (the database is down: the response is already the
        # 503 saying so). Asking again would fail again; whoever it is, do not cache.
        return True


class RequestSizeLimitMiddleware:
    """Refuses a body larger than the settings allow before anything reads it: 413, in the
    API's JSON shape under /api/. A non-file body may be ``DATA_UPLOAD_MAX_MEMORY_SIZE``; a
    multipart upload the largest file (``KNOWLEDGE_MAX_UPLOAD_BYTES``) plus that much for
    its other fields. (Django itself only checks the first when a form body is parsed, and
    DRF's JSON parser reads the stream without that check.) The reverse proxy should cap
    bodies too (docs/operations.md)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit(request.content_type or "")
        if limit is not None and length > limit:
            return too_large_response(request, limit)
        return self.get_response(request)


def too_large_response(request: HttpRequest, limit: int) -> HttpResponse:
    """413 saying the limit (JSON under /api/); also Django's 400 handler's answer when the
    fields of a multipart body turn out larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    message = f"The request body is too large: the limit is {format_size(limit)}."
    if is_api_request(request):
        return error_response(message, 413, {"limit_bytes": limit})
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def body_limit(content_type: str) -> int | None:
    """The largest body accepted for ``content_type`` (None: no limit configured)."""
    data_limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if data_limit is None:
        return None
    if content_type == "multipart/form-data":
        return int(settings.KNOWLEDGE_MAX_UPLOAD_BYTES) + data_limit
    return data_limit


class SessionControlMiddleware:
    """Signs out a session past its idle or absolute limit (``portal.sessions``) before the
    view runs: the view then answers as to anyone signed out (the sign-in page, or 401/403
    under /api/), with a message saying why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and "_auth_user_id" in session and request.user.is_authenticated:
            reason = session_check(request)
            if reason:
                session_expired(request, reason)
                logout(request)
                messages.info(
                    request,
                    "Your session ended after "
                    + ("a while without activity" if reason == "idle" else "its maximum length")
                    + ". Please sign in again.",
                )
        return self.get_response(request)


# Reachable while a code (or an enrolment) is still owed: the MFA pages themselves, signing
# out, and what has no session (probes, static files).
_MFA_EXEMPT = (
    "/accounts/mfa/",
    "/accounts/logout/",
    "/accounts/login/",
    "/static/",
    "/admin/logout/",
)


class MfaMiddleware:
    """After a password sign-in, an account with an authenticator must give a code, and an
    account whose role requires one must enrol, before any other page or API call with that
    session (``portal.mfa``). Under /api/ the answer is 403 saying so; elsewhere a redirect
    to the page that asks for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        owed = session.get(MFA_STATE, "") if session is not None else ""
        if owed and request.user.is_authenticated and not request.path.startswith(_MFA_EXEMPT):
            if is_api_request(request):
                return error_response(
                    "This session still needs multi-factor authentication: sign in to the "
                    "portal and give your code.",
                    403,
                )
            target = reverse("mfa_verify" if owed == "verify" else "mfa_enrol")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


# What a customer's session may reach: the customer area (its own sign-in, pages, API and
# sign-out) and static files. The staff pages, the staff API, the admin, /accounts/ and
# /scim/ answer 404 to a customer, as if they did not exist.
CUSTOMER_PATHS = ("/secure/", "/static/")


class CustomerAreaMiddleware:
    """Confines customers (``Role.CUSTOMER``) to the customer area: anything else is 404
    (the API's JSON 404 under /api/). Staff reaching customer pages get 404 from the pages'
    own decorator (``assistant.messaging.views.decorators``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and is_customer(user)
            and not request.path_info.startswith(CUSTOMER_PATHS)
        ):
            raise Http404("No such page.")
        return self.get_response(request)


class SsoFormActionMiddleware:
    """With single sign-on, the sign-out form of every page ends at the identity provider:
    the portal answers its POST with a redirect to the provider's end-session endpoint, and
    browsers apply the page's CSP ``form-action`` to that redirect too. So the provider's
    origin joins ``form-action`` (listed after django-csp's middleware, so that it runs
    before it on the way out)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        origin = _origin(settings.OIDC_ISSUER) if settings.OIDC_CLIENT_ID else ""
        if origin:
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [*update.get("form-action", []), origin]
            response._csp_update = update  # type: ignore[attr-defined]
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""
