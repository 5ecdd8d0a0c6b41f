"""The chat pages: conversations, asking (streamed as server-sent events, or a plain POST
without JavaScript), message fragments, citation previews, feedback and escalation."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from assistant.answering import RateLimited, answer, answer_stream
from assistant.answering.sse import event_stream_response
from assistant.models import Conversation, HandoffStatus, Message
from assistant.permissions import can_post_to_conversation
from assistant.presenters import (
    answer_payload,
    conversation_context,
    labelled_conversations,
    message_fragment_context,
    messages_shown,
    source_preview,
)
from assistant.selectors import conversation_list
from assistant.services import conversation_create, feedback_record, handoff_create
from assistant.views.common import (
    conversation_or_404,
    is_fragment,
    message_or_404,
    wants_stream,
)
from knowledge.customers.selectors import customers_visible_to
from portal import registry
from portal.forms import error_text
from portal.permissions import Action
from portal.shortcuts import visible_or_404
from portal.validation import parse_id
from portal.views.decorators import portal_page, portal_page_any
from portal.views.pagination import page_context

logger = logging.getLogger(__name__)

CONVERSATIONS_PER_PAGE = 20


# The conversation list -------------------------------------------------------------------


@require_GET
@portal_page(Action.ASK_ASSISTANT)
def chat_index(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = page_context(
        request, conversation_list(user).select_related("customer"), CONVERSATIONS_PER_PAGE
    )
    context["conversations"] = labelled_conversations(context["page_obj"].object_list)
    raw = request.GET.get("customer", "").strip()
    if raw:
        pk = parse_id(raw)
        row = customers_visible_to(user).filter(pk=pk).first() if pk is not None else None
        if row is None:  # forbidden answers like missing
            raise Http404("No such customer.")
        context["customer"] = row
    return render(request, "assistant/chat.html", context)


@require_POST
@portal_page(Action.ASK_ASSISTANT)
def conversation_create_view(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("customer", "").strip()
    customer = parse_id(raw)
    if raw and customer is None:
        raise Http404("No such customer.")
    try:
        conversation = visible_or_404(conversation_create, "customer")(
            owner=request.user, title=request.POST.get("title", ""), customer=customer
        )
    except ValidationError as invalid:
        messages.error(request, error_text(invalid))
        return redirect("assistant:chat")
    return redirect("assistant:conversation", pk=conversation.pk)


# One conversation ------------------------------------------------------------------------


def _render_conversation(
    request: HttpRequest, conversation: Conversation, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = conversation_context(request.user, conversation)
    if context["read_only"]:
        # Opened from the hand-off queue: that is where the person is in the portal.
        context["nav_items"] = registry.navigation(request, active="assistant:handoff_queue")
    context.update(extra)
    return render(request, "assistant/conversation.html", context, status=status)


@require_GET
@portal_page_any(Action.ASK_ASSISTANT, Action.MANAGE_HANDOFFS)
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_conversation(request, conversation_or_404(request.user, pk))


# Asking ----------------------------------------------------------------------------------


def _json_error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"message": message, **extra}, status=status)


def _stream_response(
    request: HttpRequest, conversation: Conversation, text: str
) -> HttpResponseBase:
    # answer_stream checks and stores the question before it returns: every refusal is
    # answered here, as JSON, before a streaming response has started.
    try:
        events = answer_stream(user=request.user, conversation=conversation, text=text)
    except ValidationError as invalid:
        return _json_error(400, error_text(invalid))
    except RateLimited as limited:
        retry_after = int(limited.extra.get("retry_after") or 60)
        response = _json_error(429, limited.message, retry_after=retry_after)
        response["Retry-After"] = str(retry_after)
        return response
    except PermissionDenied as denied:
        return _json_error(403, str(denied) or "You may not ask in this conversation.")
    except Conversation.DoesNotExist:
        return _json_error(404, "No such conversation.")
    return event_stream_response(events, answer_payload)


@require_POST
@portal_page(Action.ASK_ASSISTANT)
def ask(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Ask in a conversation: a stream of events for the page's script, else (no script)
    the answer is made now and the page shown again."""
    conversation = conversation_or_404(request.user, pk)
    text = request.POST.get("text", "")
    stream = wants_stream(request)
    if not can_post_to_conversation(request.user, conversation):
        if stream:
            return _json_error(403, "Only the person who started this conversation may ask.")
        raise PermissionDenied("Only the person who started this conversation may ask.")
    if stream:
        return _stream_response(request, conversation, text)
    try:
        message = visible_or_404(answer, "conversation")(
            user=request.user, conversation=conversation, text=text
        )
    except ValidationError as invalid:
        return _render_conversation(
            request, conversation, status=400, ask_text=text, ask_error=error_text(invalid)
        )
    except RateLimited as limited:
        response = _render_conversation(
            request, conversation, status=429, ask_text=text, ask_error=limited.message
        )
        response["Retry-After"] = str(int(limited.extra.get("retry_after") or 60))
        return response
    url = reverse("assistant:conversation", args=[conversation.pk])
    return redirect(f"{url}#message-{message.pk}")


# One message: its fragment, a citation's source, feedback --------------------------------


def _render_message(request: HttpRequest, message: Message) -> HttpResponse:
    conversation = conversation_or_404(request.user, message.conversation_id)
    context = message_fragment_context(request.user, conversation, message)
    return render(request, "assistant/_message.html", context)


@require_GET
@portal_page_any(Action.ASK_ASSISTANT, Action.MANAGE_HANDOFFS)
def message_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    """One message as the conversation page shows it (the script swaps it in)."""
    return _render_message(request, message_or_404(request.user, pk))


@require_GET
@portal_page_any(Action.ASK_ASSISTANT, Action.MANAGE_HANDOFFS)
def citation_preview(request: HttpRequest, pk: int, n: int) -> HttpResponse:
    """The source behind citation [n] of a message, if the viewer may read it now."""
    message = message_or_404(request.user, pk)
    # Only a citation the viewer is shown (none of an answer hidden from them).
    shown = messages_shown(request.user, message.conversation, [message])[message.pk]
    citation = next((c for c in shown.citations if c.get("n") == n), None)
    if citation is None:
        raise Http404("No such citation.")
    preview = source_preview(request.user, citation)
    if preview is None:  # not readable (any more), or gone: like a missing one
        raise Http404("No such source.")
    context = {"message": message, "citation": citation, "n": n, **preview}
    template = "_citation_preview.html" if is_fragment(request) else "citation_preview.html"
    response = render(request, f"assistant/{template}", context)
    patch_vary_headers(response, ["X-Fragment"])
    return response


_YES = {"1", "true", "yes", "helpful"}
_NO = {"0", "false", "no", "not_helpful"}


@require_POST
@portal_page(Action.ASK_ASSISTANT)
def feedback(request: HttpRequest, pk: int) -> HttpResponse:
    message = message_or_404(request.user, pk)
    choice = request.POST.get("helpful", "").strip().lower()
    if choice not in _YES | _NO:
        return HttpResponseBadRequest("Say whether the answer was helpful.")
    visible_or_404(feedback_record, "message")(
        user=request.user,
        message=message,
        helpful=choice in _YES,
        comment=request.POST.get("comment", ""),
    )
    if is_fragment(request):
        return _render_message(request, message)
    messages.success(request, "Thank you: your feedback is recorded.")
    url = reverse("assistant:conversation", args=[message.conversation_id])
    return redirect(f"{url}#message-{message.pk}")


# Escalation ------------------------------------------------------------------------------


@require_POST
@portal_page(Action.ASK_ASSISTANT)
def escalate(request: HttpRequest, pk: int) -> HttpResponse:
    """Hand the conversation to a supervisor of the region, with its customer and draft."""
    conversation = conversation_or_404(request.user, pk)
    if not can_post_to_conversation(request.user, conversation):
        raise PermissionDenied("Only the person who asked may hand this conversation off.")
    reason = request.POST.get("reason", "")
    already = conversation.handoffs.exclude(status=HandoffStatus.RESOLVED).first()
    try:
        handoff = visible_or_404(handoff_create, "conversation")(
            actor=request.user, conversation=conversation, reason=reason
        )
    except ValidationError as invalid:
        return _render_conversation(
            request,
            conversation,
            status=400,
            escalate_reason=reason,
            escalate_error=error_text(invalid),
        )
    if already is not None and already.pk == handoff.pk:
        messages.info(
            request,
            f"This conversation is already with a supervisor (hand-off #{handoff.pk}, "
            f"{handoff.get_status_display().lower()}).",
        )
    else:
        where = f"a supervisor of {handoff.region.name}" if handoff.region else "the central queue"
        messages.success(
            request,
            f"Handed off to {where} (hand-off #{handoff.pk}). "
            "You can keep asking here in the meantime.",
        )
    url = reverse("assistant:conversation", args=[conversation.pk])
    return redirect(f"{url}#handoffs")
