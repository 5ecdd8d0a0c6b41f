"""The staff side of the message center: the inbox of one's regions and a thread with the
assistant's draft, replies, internal notes, assignment, closing and withdrawing."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from assistant.messaging.forms import AutoReplyReviewForm, NoteForm, StaffReplyForm
from assistant.messaging.models import Category, DraftStatus, ThreadStatus
from assistant.messaging.selectors import (
    AGE_FILTERS,
    attachment_get,
    draft_get,
    message_get,
    thread_drafts,
    thread_get,
    thread_list,
    thread_messages,
)
from assistant.messaging.services.invitations import (
    customer_authenticator_remove,
    invitation_send,
)
from assistant.messaging.services.threads import (
    auto_reply_review,
    draft_discard,
    message_retract,
    note_add,
    staff_reply_send,
    thread_assign,
    thread_close,
    thread_mark_read,
)
from assistant.messaging.views.files import attachment_download
from forms_app.selectors import definition_get
from forms_app.services.submissions import transaction_choices
from knowledge.customers.selectors import customer_login_of
from portal.forms import error_text
from portal.permissions import ROLE_ACTIONS, Action, Role, can
from portal.services import audit_event_record
from portal.shortcuts import visible_or_404
from portal.validation import parse_id
from portal.views.decorators import portal_page
from portal.views.pagination import page_context

_get_thread = visible_or_404(thread_get, "thread")


def _form_problems(form: StaffReplyForm) -> str:
    if "attachments" in form.errors:
        return " ".join(str(text) for text in form.errors["attachments"])
    return "Write a reply (at most the allowed length)."


@require_GET
@portal_page(Action.HANDLE_MESSAGES)
def attachment(request: HttpRequest, pk: str, attachment_id: str) -> HttpResponseBase:
    """A file of a message of a thread of one's regions (the customer's, or a reply)."""
    row = _get_thread(request.user, parse_id(pk) or 0)
    item = visible_or_404(attachment_get, "file")(request.user, row, parse_id(attachment_id) or 0)
    return attachment_download(request, item)


@portal_page(Action.HANDLE_MESSAGES)
def inbox(request: HttpRequest) -> HttpResponse:
    filters = {
        "status": request.GET.get("status", "active"),
        "category": request.GET.get("category", ""),
        "waiting_longer_than": request.GET.get("waiting", ""),
        "assigned": request.GET.get("assigned", ""),
        "review": request.GET.get("review", ""),
    }
    threads = thread_list(request.user, **filters)
    return render(
        request,
        "messaging/inbox.html",
        {
            **page_context(request, threads, 25),
            "filters": filters,
            "statuses": [("active", "Not closed"), *ThreadStatus.choices, ("", "All")],
            "categories": Category.choices,
            "ages": [(key, f"Waiting over {key[:-1]} day(s)") for key in AGE_FILTERS],
        },
    )


def _form_title(user: Any, slug: str) -> str:
    if not slug:
        return ""
    try:
        return definition_get(user, slug).title
    except ObjectDoesNotExist:
        return ""  # not a form this person may fill: nothing to offer


def _handlers(thread: Any) -> list[Any]:
    """People the thread may be assigned to (one query): active staff of a role that handles
    messages, serving the customer's region or every region (the service checks again)."""
    handling = [r.value for r, acts in ROLE_ACTIONS.items() if Action.HANDLE_MESSAGES in acts]
    everywhere = [r.value for r, acts in ROLE_ACTIONS.items() if Action.SEE_ALL_REGIONS in acts]
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=handling)
        .exclude(groups__name=Role.CUSTOMER.value)
        .filter(Q(groups__name__in=everywhere) | Q(profile__regions=thread.customer.region_id))
        .distinct()
        .order_by("username")[:500]
    )


@portal_page(Action.HANDLE_MESSAGES)
def thread(request: HttpRequest, pk: str) -> HttpResponse:
    row = _get_thread(request.user, parse_id(pk) or 0)
    audit_event_record(action="messaging.thread_viewed", actor=request.user, target=row)
    thread_mark_read(user=request.user, thread=row)
    drafts = thread_drafts(request.user, row)
    ready = next((d for d in drafts if d.status == DraftStatus.READY), None)
    proposal = (ready.form_proposal or {}) if ready else {}
    reply_form = StaffReplyForm(
        initial={"body": ready.body if ready else "", "draft": ready.pk if ready else None}
    )
    choices = transaction_choices(request.user, row.customer) if proposal else []
    bound = str(proposal.get("transaction_id") or "")
    if bound and bound not in {value for value, _ in choices}:
        bound = ""  # no longer among the transactions this person may pick
    return render(
        request,
        "messaging/thread.html",
        {
            "thread": row,
            "messages_list": thread_messages(request.user, row),
            "drafts": drafts,
            "ready_draft": ready,
            "reply_form": reply_form,
            "proposal": proposal,
            "proposal_title": _form_title(request.user, proposal.get("form", "")),
            "transaction_choices": choices,
            "bound_transaction": bound,
            "note_form": NoteForm(),
            "handlers": _handlers(row),
            "has_account": customer_login_of(row.customer) is not None,
            "reviews_replies": can(request.user, Action.MANAGE_HANDOFFS),
        },
    )


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def reply(request: HttpRequest, pk: str) -> HttpResponse:
    row = _get_thread(request.user, parse_id(pk) or 0)
    form = StaffReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        flash.error(request, _form_problems(form))
        return redirect("messaging:thread", pk=row.pk)
    draft = None
    if form.cleaned_data.get("draft"):
        draft = visible_or_404(draft_get, "draft")(request.user, form.cleaned_data["draft"])
    send_form = form.cleaned_data.get("include_form") and form.cleaned_data.get("form")
    try:
        staff_reply_send(
            user=request.user,
            thread=row,
            body=form.cleaned_data["body"],
            draft=draft,
            form=form.cleaned_data["form"] if send_form else "",
            form_transaction=form.cleaned_data.get("form_transaction") if send_form else None,
            seen=form.cleaned_data.get("seen"),
            attachments=form.cleaned_data["attachments"],
        )
    except ValidationError as error:
        flash.error(request, error_text(error))
    else:
        flash.success(request, "Reply sent; the customer is told by e-mail that a message waits.")
    return redirect("messaging:thread", pk=row.pk)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def note(request: HttpRequest, pk: str) -> HttpResponse:
    row = _get_thread(request.user, parse_id(pk) or 0)
    form = NoteForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Write a note (at most the allowed length).")
    else:
        try:
            note_add(user=request.user, thread=row, body=form.cleaned_data["body"])
        except ValidationError as error:
            flash.error(request, error_text(error))
        else:
            flash.success(request, "Internal note added.")
    return redirect("messaging:thread", pk=row.pk)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def assign(request: HttpRequest, pk: str) -> HttpResponse:
    row = _get_thread(request.user, parse_id(pk) or 0)
    raw = request.POST.get("assignee", "")
    assignee = None
    if raw:
        assignee = get_user_model().objects.filter(pk=parse_id(raw) or 0, is_active=True).first()
        if assignee is None:
            flash.error(request, "No such person.")
            return redirect("messaging:thread", pk=row.pk)
    try:
        thread_assign(user=request.user, thread=row, assignee=assignee)
    except ValidationError as error:
        flash.error(request, error_text(error))
    else:
        flash.success(request, "Assigned." if assignee else "Unassigned.")
    return redirect("messaging:thread", pk=row.pk)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def close(request: HttpRequest, pk: str) -> HttpResponse:
    row = _get_thread(request.user, parse_id(pk) or 0)
    thread_close(user=request.user, thread=row)
    flash.success(request, "Thread closed; it reopens if the customer writes again.")
    return redirect("messaging:thread", pk=row.pk)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def retract(request: HttpRequest, pk: str) -> HttpResponse:
    message = visible_or_404(message_get, "message")(request.user, parse_id(pk) or 0)
    try:
        message_retract(user=request.user, message=message)
    except ValidationError as error:
        flash.error(request, error_text(error))
    except PermissionDenied as error:
        flash.error(request, str(error))
    else:
        flash.success(request, "Reply withdrawn: the customer will not see it.")
    return redirect("messaging:thread", pk=message.thread_id)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def review(request: HttpRequest, pk: str) -> HttpResponse:
    """A supervisor's review of an automatically sent reply picked for review."""
    message = visible_or_404(message_get, "message")(request.user, parse_id(pk) or 0)
    form = AutoReplyReviewForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Choose fine or concern (a note is at most the allowed length).")
        return redirect("messaging:thread", pk=message.thread_id)
    try:
        auto_reply_review(user=request.user, message=message, **form.cleaned_data)
    except ValidationError as error:
        flash.error(request, error_text(error))
    except PermissionDenied as error:
        flash.error(request, str(error))
    else:
        flash.success(request, "Review recorded.")
    return redirect("messaging:thread", pk=message.thread_id)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def discard(request: HttpRequest, pk: str) -> HttpResponse:
    draft = visible_or_404(draft_get, "draft")(request.user, parse_id(pk) or 0)
    try:
        draft_discard(user=request.user, draft=draft)
    except ValidationError as error:
        flash.error(request, error_text(error))
    else:
        flash.success(request, "Draft discarded.")
    return redirect("messaging:thread", pk=draft.thread_id)


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def invite(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Send the customer (of the user's regions) an invitation, or a new one."""
    from django.urls import reverse

    from knowledge.customers.selectors import customer_records_get

    cid = parse_id(customer_id) or 0
    visible_or_404(customer_records_get, "customer")(request.user, cid)
    try:
        invitation_send(user=request.user, customer_id=cid)
    except ValidationError as error:
        flash.error(request, error_text(error))
    except OSError:
        flash.error(request, "The e-mail could not be sent (mail server unreachable); try again.")
    else:
        flash.success(request, "Invitation sent to the e-mail address on the customer record.")
    return redirect(reverse("customers:detail", kwargs={"pk": cid}))


@require_POST
@portal_page(Action.HANDLE_MESSAGES)
def authenticator_remove(request: HttpRequest, customer_id: str) -> HttpResponse:
    """A supervisor removes the customer's authenticator app (the customer lost it)."""
    from django.urls import reverse

    from knowledge.customers.selectors import customer_records_get

    cid = parse_id(customer_id) or 0
    visible_or_404(customer_records_get, "customer")(request.user, cid)
    try:
        customer_authenticator_remove(user=request.user, customer_id=cid)
    except ValidationError as error:
        flash.error(request, error_text(error))
    except PermissionDenied as error:
        flash.error(request, str(error))
    else:
        flash.success(
            request, "Authenticator removed: the customer signs in with the e-mailed code."
        )
    return redirect(reverse("customers:detail", kwargs={"pk": cid}))
