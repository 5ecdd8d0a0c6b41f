"""The hand-off queue of a supervisor's regions: take a hand-off, resolve it with notes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from assistant.presenters import handoff_queue_rows
from assistant.selectors import handoff_get, handoff_queue
from assistant.services import handoff_assign, handoff_resolve
from assistant.views.common import safe_next
from portal.forms import error_text
from portal.permissions import Action
from portal.shortcuts import visible_or_404
from portal.views.decorators import portal_page
from portal.views.pagination import page_context

HANDOFFS_PER_PAGE = 25

# Forbidden answers like missing: "No such hand-off."
handoff_or_404 = visible_or_404(handoff_get, "hand-off")


@require_GET
@portal_page(Action.MANAGE_HANDOFFS)
def handoff_queue_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    include_resolved = request.GET.get("resolved") == "1"
    context = page_context(
        request, handoff_queue(user, include_resolved=include_resolved), HANDOFFS_PER_PAGE
    )
    context.update(
        include_resolved=include_resolved,
        rows=handoff_queue_rows(user, list(context["page_obj"].object_list)),
        here=request.get_full_path(),
    )
    return render(request, "assistant/handoff_queue.html", context)


@require_POST
@portal_page(Action.MANAGE_HANDOFFS)
def handoff_assign_view(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = handoff_or_404(request.user, pk)
    try:
        # A hand-off the user may read (their own conversation's) but not manage: 404 too.
        handoff = visible_or_404(handoff_assign, "hand-off")(actor=request.user, handoff=handoff)
    except ValidationError as invalid:
        messages.error(request, f"Hand-off #{handoff.pk}: {error_text(invalid)}")
    else:
        messages.success(request, f"Hand-off #{handoff.pk} is assigned to you.")
    return redirect(safe_next(request, reverse("assistant:handoff_queue")))


@require_POST
@portal_page(Action.MANAGE_HANDOFFS)
def handoff_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = handoff_or_404(request.user, pk)
    try:
        handoff = visible_or_404(handoff_resolve, "hand-off")(
            actor=request.user, handoff=handoff, notes=request.POST.get("notes", "")
        )
    except ValidationError as invalid:
        messages.error(request, f"Hand-off #{handoff.pk}: {error_text(invalid)}")
    else:
        messages.success(request, f"Hand-off #{handoff.pk} is resolved.")
    return redirect(safe_next(request, reverse("assistant:handoff_queue")))
