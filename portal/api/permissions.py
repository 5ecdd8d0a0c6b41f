"""DRF adapters over the one permission policy."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from portal.models import ApiToken
from portal.permissions import Action, can, is_customer


def token_scope_needed(request: Request, view: Any) -> str:
    """The scope a token needs here: the view's ``api_scope`` ("assistant" for the
    assistant's endpoints), else "read" for GET/HEAD/OPTIONS and "write" for the rest."""
    scope = getattr(view, "api_scope", None)
    if scope:
        return str(scope)
    return "read" if request.method in SAFE_METHODS else "write"


def token_allows(request: Request, view: Any) -> bool:
    """Whether the request's API token (if it came with one) holds the scope needed here."""
    token = request.auth
    return not isinstance(token, ApiToken) or token_scope_needed(request, view) in (
        token.scopes or []
    )


class CanUseApi(BasePermission):
    """Authenticated, a role that may use the API, and (with an API token) the token's scope
    (docs/api.md, "Token scopes"). A session is not limited by scopes: its user's role is."""

    message = "Your account may not use the API."

    def has_permission(self, request: Request, view: Any) -> bool:
        if is_customer(request.user):
            # The staff API does not exist for a customer (their own is under /secure/).
            raise NotFound("Not found.")
        if not (
            request.user and request.user.is_authenticated and can(request.user, Action.USE_API)
        ):
            return False
        token = request.auth
        if isinstance(token, ApiToken):
            scope = token_scope_needed(request, view)
            if scope not in (token.scopes or []):
                self.message = f"This API token lacks the '{scope}' scope."
                return False
        return True


def requires(action: Action) -> type[BasePermission]:
    """A permission class for ``action`` (on top of CanUseApi)."""

    class _Requires(CanUseApi):
        message = f"Your role may not {action.value.replace('_', ' ')}."

        def has_permission(self, request: Request, view: Any) -> bool:
            return super().has_permission(request, view) and can(request.user, action)

    _Requires.__name__ = f"Requires_{action.value}"
    return _Requires
