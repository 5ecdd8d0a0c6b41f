"""Dashboard, audit trail browser and the error pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from forms_app.selectors import submission_decisions_recent
from portal.forms import AuditFilterForm
from portal.permissions import ROLE_DESCRIPTIONS, Action, can, regions_visible_to, user_roles
from portal.selectors import audit_event_list, audit_event_list_of_actor
from portal.services import audit_event_record
from portal.views.decorators import require_action
from portal.views.pagination import page_context

# What each capability means on the dashboard; a section appears when its action is granted.
SECTIONS: list[tuple[Action, str, str, str | None]] = [
    (
        Action.VIEW_AUDIT,
        "Audit trail",
        "Browse and filter every recorded event.",
        "portal:audit_list",
    ),
    (
        Action.MANAGE_USERS,
        "Users and roles",
        "Manage users, roles and regions in the admin.",
        "admin:index",
    ),
    (
        Action.SEARCH_KNOWLEDGE,
        "Search",
        "Search the policies and procedures your role may read.",
        "knowledge:search",
    ),
    (
        Action.MANAGE_CONTENT,
        "Content",
        "Collections and documents the assistant answers from.",
        "knowledge:document_list",
    ),
    (
        Action.VIEW_CUSTOMERS,
        "Customers",
        "Customer records of your regions, masked by role.",
        "customers:search",
    ),
    (
        Action.FILL_FORMS,
        "Smart forms",
        "Card disputes, address changes, referrals and closures.",
        "forms_app:form_list",
    ),
    (
        Action.REVIEW_FORMS,
        "Reviews",
        "Approve or reject submitted forms.",
        "forms_app:review_queue",
    ),
    (
        Action.ASK_ASSISTANT,
        "Assistant",
        "Ask questions answered from company documents, with sources.",
        "assistant:chat",
    ),
    (
        Action.MANAGE_HANDOFFS,
        "Hand-offs",
        "Conversations handed to a supervisor of your regions.",
        "assistant:handoff_queue",
    ),
]
RECENT_CONVERSATIONS = 5
OLDEST_HANDOFFS = 5


def _assistant_context(user: Any) -> dict[str, Any]:
    """Recent conversations (askers) and the oldest open hand-offs (supervisors)."""
    from assistant.models import HandoffStatus
    from assistant.selectors import conversation_list, handoff_queue, handoffs_open_count
    from assistant.views.common import labelled_conversations

    context: dict[str, Any] = {"can_ask": can(user, Action.ASK_ASSISTANT)}
    if context["can_ask"]:
        context["recent_conversations"] = labelled_conversations(
            conversation_list(user)[:RECENT_CONVERSATIONS]
        )
    context["can_manage_handoffs"] = can(user, Action.MANAGE_HANDOFFS)
    if context["can_manage_handoffs"]:
        context["open_handoffs_count"] = handoffs_open_count(user)
        context["oldest_handoffs"] = list(
            handoff_queue(user).filter(status=HandoffStatus.OPEN)[:OLDEST_HANDOFFS]
        )
    return context


@require_action(Action.USE_PORTAL)
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    sections = [
        {"title": title, "description": text, "url": reverse(url) if url else None}
        for action, title, text, url in SECTIONS
        if can(user, action)
    ]
    can_view_audit = can(user, Action.VIEW_AUDIT)
    context: dict[str, Any] = {
        "roles": [
            {"name": role.value, "description": ROLE_DESCRIPTIONS[role]}
            for role in sorted(user_roles(user))
        ],
        "regions": list(regions_visible_to(user)),
        "sees_all_regions": can(user, Action.SEE_ALL_REGIONS),
        "sections": sections,
        "my_recent_events": audit_event_list_of_actor(user=user, limit=10),
        "can_view_audit": can_view_audit,
        "recent_audit_events": list(audit_event_list(user=user)[:10]) if can_view_audit else [],
        "recent_decisions": submission_decisions_recent(user, limit=5),
        **_assistant_context(user),
    }
    return render(request, "portal/dashboard.html", context)


@require_action(Action.VIEW_AUDIT)
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_event_list(user=request.user, **filters)
    context = page_context(request, events, 50)
    context.update(filter_form=form, events=context["page_obj"].object_list)
    return render(request, "portal/audit_list.html", context)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    audit_event_record(
        action="permission.denied",
        actor=getattr(request, "user", None),
        details={"path": request.path[:500], "method": request.method},
    )
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    from django.template import loader

    return HttpResponse(loader.get_template("500.html").render(), status=500)
