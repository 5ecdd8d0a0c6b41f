"""DRF adapters over the one permission policy."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.permissions import Action, can


class CanUseApi(BasePermission):
    """Authenticated, and a role that may use the API."""

    message = "Your account may not use the API."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(
            request.user and request.user.is_authenticated and can(request.user, Action.USE_API)
        )


def requires(action: Action) -> type[BasePermission]:
    """A permission class for ``action`` (on top of CanUseApi)."""

    class _Requires(CanUseApi):
        message = f"Your role may not {action.value.replace('_', ' ')}."

        def has_permission(self, request: Request, view: Any) -> bool:
            return super().has_permission(request, view) and can(request.user, action)

    _Requires.__name__ = f"Requires_{action.value}"
    return _Requires
