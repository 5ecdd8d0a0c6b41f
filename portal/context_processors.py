"""Navigation per role for the base layout (entries registered by the apps).

Worked out once per request: each panel of a page (``registry.render_panels``) is rendered
with the request's context, which would otherwise run this again (and its region query)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from portal import registry
from portal.permissions import regions_visible_to, user_roles

_CACHE_ATTR = "_portal_navigation"


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "portal_user_roles": [], "portal_user_regions": []}
    cached: tuple[Any, dict[str, Any]] | None = getattr(request, _CACHE_ATTR, None)
    if cached is not None and cached[0] is user:
        return cached[1]
    context = {
        "nav_items": registry.navigation(request),
        "portal_user_roles": sorted(role.value for role in user_roles(user)),
        "portal_user_regions": list(regions_visible_to(user)),
    }
    setattr(request, _CACHE_ATTR, (user, context))
    return context
