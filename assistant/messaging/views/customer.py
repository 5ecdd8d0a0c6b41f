"""The customer area (/secure/): a customer's own threads, their messages and records."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from assistant.messaging.forms import ReplyForm, ThreadStartForm
from assistant.messaging.selectors import thread_get, thread_list, thread_messages
from assistant.messaging.services.threads import (
    customer_message_post,
    thread_mark_read,
    thread_start,
)
from assistant.messaging.views.decorators import secure_page
from knowledge.customers.selectors import own_accounts, own_transactions
from portal.shortcuts import visible_or_404
from portal.validation import parse_id


def _form_errors(form: ThreadStartForm | ReplyForm, error: ValidationError) -> None:
    for field, texts in error.message_dict.items():
        for text in texts:
            form.add_error(field if field in form.fields else None, text)


@secure_page
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "secure/home.html",
        {
            "threads": list(thread_list(request.user)[:50]),
            "accounts": own_accounts(request.user),
            "customer": request.secure_customer,  # type: ignore[attr-defined]
        },
    )


@secure_page
def records(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "secure/records.html",
        {
            "accounts": own_accounts(request.user),
            "transactions": own_transactions(request.user, limit=50),
        },
    )


@secure_page
@require_http_methods(["GET", "POST"])
def thread_new(request: HttpRequest) -> HttpResponse:
    form = ThreadStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            thread = thread_start(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            flash.success(request, "Your message was sent. We will reply here.")
            return redirect("secure:thread", pk=thread.pk)
    status = 400 if form.errors else 200
    return render(request, "secure/thread_new.html", {"form": form}, status=status)


@secure_page
@require_http_methods(["GET", "POST"])
def thread(request: HttpRequest, pk: str) -> HttpResponse:
    row = visible_or_404(thread_get, "thread")(request.user, parse_id(pk) or 0)
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer_message_post(user=request.user, thread=row, body=form.cleaned_data["body"])
        except ValidationError as error:
            _form_errors(form, error)
        else:
            flash.success(request, "Your message was sent.")
            return redirect("secure:thread", pk=row.pk)
    thread_mark_read(user=request.user, thread=row)
    return render(
        request,
        "secure/thread.html",
        {"thread": row, "messages_list": thread_messages(request.user, row), "form": form},
        status=400 if form.errors else 200,
    )
