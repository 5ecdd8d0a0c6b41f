"""The access review pages: the table, its CSV, recording and resolving decisions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal import registry
from portal.access_review import (
    access_csv,
    access_review_record,
    access_review_resolve,
    access_rows,
    open_revocations,
)
from portal.models import AccessReview
from portal.permissions import Action, can
from portal.validation import parse_id
from portal.views.decorators import require_action


@require_action(Action.VIEW_AUDIT)
def access_review(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/access_review.html",
        {
            "rows": access_rows(request.user),
            "facts": [fact.label for fact in registry.access_facts()],
            "revocations": list(open_revocations(request.user)),
            "may_resolve": can(request.user, Action.MANAGE_USERS),
        },
    )


@require_action(Action.VIEW_AUDIT)
def access_review_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(access_csv(request.user), content_type="text/csv; charset=utf-8")
    name = f"access-review-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_POST
@require_action(Action.VIEW_AUDIT)
def access_review_record_view(request: HttpRequest, user_id: str) -> HttpResponse:
    number = parse_id(user_id)
    user = get_user_model().objects.filter(pk=number).first() if number is not None else None
    if user is None:
        raise Http404("No such user.")
    try:
        access_review_record(
            actor=request.user,
            user=user,
            decision=request.POST.get("decision", ""),
            comment=request.POST.get("comment", ""),
        )
    except ValidationError as error:
        messages.error(request, f"{user.get_username()}: {' '.join(error.messages)}")
        return redirect("portal:access_review")
    messages.success(request, f"Recorded the review of {user.get_username()}.")
    return redirect("portal:access_review")


@require_POST
@require_action(Action.VIEW_AUDIT)
def access_review_resolve_view(request: HttpRequest, pk: str) -> HttpResponse:
    number = parse_id(pk)
    review = AccessReview.objects.filter(pk=number).first() if number is not None else None
    if review is None:
        raise Http404("No such review.")
    try:
        access_review_resolve(actor=request.user, review=review)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("portal:access_review")
    messages.success(request, f"Marked the revocation for {review.user.get_username()} done.")
    return redirect("portal:access_review")
