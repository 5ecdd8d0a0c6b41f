"""Request id and client address for the audit trail and the logs."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portal import request_context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives each request an id (kept from a sane X-Request-ID) and records the client IP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else request_context.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        # REMOTE_ADDR only: behind a proxy, the proxy must set it (e.g. gunicorn's
        # --forwarded-allow-ips); a client-supplied X-Forwarded-For is never trusted.
        ip = request.META.get("REMOTE_ADDR") or None
        token = request_context.set_current(
            request_context.RequestContext(request_id=request_id, ip_address=ip)
        )
        try:
            response = self.get_response(request)
        finally:
            request_context.reset(token)
        response["X-Request-ID"] = request_id
        return response
