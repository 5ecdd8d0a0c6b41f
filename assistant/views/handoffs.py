"""The hand-off queue of a supervisor's regions: take a hand-off, resolve it with notes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from assistant.models import Handoff
from assistant.selectors import handoff_get, handoff_queue
from assistant.services import handoff_assign, handoff_resolve
from assistant.views.common import error_text, portal_page, safe_next
from forms_app.permissions import submissions_visible_to
from knowledge.customers.selectors import customers_visible_to
from portal.permissions import Action
from portal.views.pagination import page_context

HANDOFFS_PER_PAGE = 25


@require_GET
@portal_page(Action.MANAGE_HANDOFFS)
def handoff_queue_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    include_resolved = request.GET.get("resolved") == "1"
    context = page_context(
        request, handoff_queue(user, include_resolved=include_resolved), HANDOFFS_PER_PAGE
    )
    handoffs = list(context["page_obj"].object_list)
    customer_ids = {h.customer_id for h in handoffs if h.customer_id}
    submission_ids = {h.submission_id for h in handoffs if h.submission_id}
    customers = set(
        customers_visible_to(user).filter(pk__in=customer_ids).values_list("pk", flat=True)
    )
    submissions = set(
        submissions_visible_to(user).filter(pk__in=submission_ids).values_list("pk", flat=True)
    )
    context.update(
        include_resolved=include_resolved,
        rows=[
            {
                "h": h,
                "customer_visible": h.customer_id in customers,
                "submission_visible": h.submission_id in submissions,
            }
            for h in handoffs
        ],
        here=request.get_full_path(),
    )
    return render(request, "assistant/handoff_queue.html", context)


def _handoff_or_404(request: HttpRequest, pk: int) -> Handoff:
    try:
        return handoff_get(request.user, pk)
    except Handoff.DoesNotExist as missing:  # forbidden answers like missing
        raise Http404("No such hand-off.") from missing


@require_POST
@portal_page(Action.MANAGE_HANDOFFS)
def handoff_assign_view(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = _handoff_or_404(request, pk)
    try:
        handoff = handoff_assign(actor=request.user, handoff=handoff)
    except Handoff.DoesNotExist as missing:  # readable (own conversation) but not in the queue
        raise Http404("No such hand-off.") from missing
    except ValidationError as invalid:
        messages.error(request, f"Hand-off #{handoff.pk}: {error_text(invalid)}")
    else:
        messages.success(request, f"Hand-off #{handoff.pk} is assigned to you.")
    return redirect(safe_next(request, reverse("assistant:handoff_queue")))


@require_POST
@portal_page(Action.MANAGE_HANDOFFS)
def handoff_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    handoff = _handoff_or_404(request, pk)
    try:
        handoff = handoff_resolve(
            actor=request.user, handoff=handoff, notes=request.POST.get("notes", "")
        )
    except Handoff.DoesNotExist as missing:
        raise Http404("No such hand-off.") from missing
    except ValidationError as invalid:
        messages.error(request, f"Hand-off #{handoff.pk}: {error_text(invalid)}")
    else:
        messages.success(request, f"Hand-off #{handoff.pk} is resolved.")
    return redirect(safe_next(request, reverse("assistant:handoff_queue")))
