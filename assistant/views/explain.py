"""Explain this answer: compliance's page over ``assistant.explanation``."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from assistant.explanation import answer_explain
from assistant.models import Message
from portal.permissions import Action
from portal.views.decorators import portal_page


@portal_page(Action.SUPERVISE_ANSWERS)
def answer_explain_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        explanation = answer_explain(request.user, pk)
    except Message.DoesNotExist:
        raise Http404("No such answer.") from None
    return render(request, "assistant/answer_explain.html", {"x": explanation})
