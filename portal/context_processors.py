"""Navigation per role for the base layout."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from portal.permissions import Action, can, regions_visible_to, user_roles

# (label, url name, action needed or None for every signed-in user)
NAVIGATION: list[tuple[str, str, Action | None]] = [
    ("Dashboard", "portal:dashboard", None),
    ("Assistant", "assistant:chat", Action.ASK_ASSISTANT),
    ("Search", "knowledge:search", Action.SEARCH_KNOWLEDGE),
    ("Documents", "knowledge:document_list", Action.SEARCH_KNOWLEDGE),
    ("Customers", "customers:search", Action.VIEW_CUSTOMERS),
    ("Forms", "forms_app:form_list", Action.FILL_FORMS),
    ("Reviews", "forms_app:review_queue", Action.REVIEW_FORMS),
    ("Hand-offs", "assistant:handoff_queue", Action.MANAGE_HANDOFFS),
    ("Audit trail", "portal:audit_list", Action.VIEW_AUDIT),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "portal_user_roles": [], "portal_user_regions": []}
    items = []
    for label, url_name, action in NAVIGATION:
        if action is None or can(user, action):
            url = reverse(url_name)
            active = request.path == url if url == "/" else request.path.startswith(url)
            # The review queue lives under /forms/ but is its own entry.
            if url_name == "forms_app:form_list" and request.path.startswith(
                reverse("forms_app:review_queue")
            ):
                active = False
            # So is the hand-off queue under /assistant/.
            if url_name == "assistant:chat" and request.path.startswith(
                reverse("assistant:handoff_queue")
            ):
                active = False
            items.append({"label": label, "url": url, "active": active})
    return {
        "nav_items": items,
        "portal_user_roles": sorted(role.value for role in user_roles(user)),
        "portal_user_regions": list(regions_visible_to(user)),
    }
