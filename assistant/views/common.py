"""What the assistant pages share: request helpers and the lookups that answer 404 (access
is ``portal.views.decorators``; how records show to a viewer is ``assistant.presenters``)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from assistant.selectors import conversation_get, message_get
from portal.shortcuts import visible_or_404

# Forbidden answers like missing: "No such conversation." / "No such message."
conversation_or_404 = visible_or_404(conversation_get, "conversation")
message_or_404 = visible_or_404(message_get, "message")


def is_fragment(request: HttpRequest) -> bool:
    """The page's script asks for a piece of HTML to swap in, not a whole page."""
    return request.headers.get("X-Fragment") == "1"


def wants_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def safe_next(request: HttpRequest, default: str) -> str:
    """A ``next`` URL of this site only (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
