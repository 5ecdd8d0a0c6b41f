from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from portal.permissions import Action, can


def require_action(action: Action) -> Callable[[Any], Any]:
    """View decorator: sign-in first, then the policy decides (403, audited, otherwise)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not can(request.user, action):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


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
