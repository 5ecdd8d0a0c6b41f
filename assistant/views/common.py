"""What the assistant pages share: access decorators, request helpers and the lookups that
answer 404 (how records show to a viewer is ``assistant.presenters``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme

# Temporary re-export: portal/views/pages.py imports it from here until it switches to
# assistant.presenters.
from assistant.presenters import labelled_conversations as labelled_conversations
from assistant.selectors import conversation_get, message_get
from portal.permissions import Action, can
from portal.shortcuts import visible_or_404
from portal.views.decorators import require_action

# Forbidden answers like missing: "No such conversation." / "No such message."
conversation_or_404 = visible_or_404(conversation_get, "conversation")
message_or_404 = visible_or_404(message_get, "message")


def portal_page(action: Action) -> Callable[[Any], Any]:
    """Sign-in, the portal itself (API-only accounts have none), then ``action``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return require_action(Action.USE_PORTAL)(require_action(action)(view))

    return decorator


def portal_page_any(*actions: Action) -> Callable[[Any], Any]:
    """Sign-in, the portal, then any one of ``actions`` (the selectors decide the rows)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not any(can(request.user, action) for action in actions):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return require_action(Action.USE_PORTAL)(wrapped)

    return decorator


def is_fragment(request: HttpRequest) -> bool:
    """The page's script asks for a piece of HTML to swap in, not a whole page."""
    return request.headers.get("X-Fragment") == "1"


def wants_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def error_text(error: ValidationError) -> str:
    """A service's validation error as one sentence for a person."""
    if hasattr(error, "error_dict"):
        return " ".join(m for messages_ in error.message_dict.values() for m in messages_)
    return " ".join(error.messages)


def safe_next(request: HttpRequest, default: str) -> str:
    """A ``next`` URL of this site only (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
