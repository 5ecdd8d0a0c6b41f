"""Navigation per role for the base layout (entries registered by the apps)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from portal import registry
from portal.permissions import regions_visible_to, user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "portal_user_roles": [], "portal_user_regions": []}
    return {
        "nav_items": registry.navigation(request),
        "portal_user_roles": sorted(role.value for role in user_roles(user)),
        "portal_user_regions": list(regions_visible_to(user)),
    }
