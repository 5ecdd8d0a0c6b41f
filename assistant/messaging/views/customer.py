"""The customer area (/secure/): a customer's own threads, their messages and records."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from assistant.messaging.forms import ReplyForm, ThreadStartForm
from assistant.messaging.selectors import (
    attachment_get,
    thread_get,
    thread_list,
    thread_messages,
)
from assistant.messaging.services.threads import (
    customer_message_post,
    thread_mark_read,
    thread_start,
)
from assistant.messaging.views.decorators import secure_page
from assistant.messaging.views.files import attachment_download
from forms_app.forms import build_form_class, post_data
from forms_app.selectors import submission_data_for_customer, submission_sent_get
from forms_app.services.customer_forms import submission_confirm_by_customer
from knowledge.customers.selectors import own_accounts, own_transactions
from portal.forms import add_form_error
from portal.shortcuts import visible_or_404
from portal.validation import parse_id


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
    form = ThreadStartForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            thread = thread_start(user=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_form_error(form, error)
        else:
            flash.success(request, "Your message was sent. We will reply here.")
            return redirect("secure:thread", pk=thread.pk)
    status = 400 if form.errors else 200
    return render(request, "secure/thread_new.html", {"form": form}, status=status)


@secure_page
@require_http_methods(["GET", "POST"])
def thread(request: HttpRequest, pk: str) -> HttpResponse:
    row = visible_or_404(thread_get, "thread")(request.user, parse_id(pk) or 0)
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer_message_post(
                user=request.user,
                thread=row,
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
            )
        except ValidationError as error:
            add_form_error(form, error)
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


def _origin_label(origin: dict[str, Any] | None, submission: Any) -> str:
    """Where a value of a form sent to the customer came from, in the customer's words."""
    if not origin:
        return ""
    source = origin.get("source")
    if source == "customer_record":
        record = origin.get("record")
        if record == "transaction" and submission.transaction is not None:
            return f"from your transaction of {submission.transaction.posted_date:%-d %b %Y}"
        if record == "account":
            return "from your account"
        return "from your details with us"
    if source == "customer":
        return "changed by you"
    return "filled in by the bank"


def _password_again(request: HttpRequest, definition: Any) -> bool:
    """For a high-risk form: the customer's password, checked again now (a wrong one counts
    towards the sign-in lockout, django-axes)."""
    password = request.POST.get("password", "")
    if not definition.customer_reauthentication or not password:
        return False
    user = authenticate(request, username=request.user.get_username(), password=password)
    return user is not None and user.pk == request.user.pk


@secure_page
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def form_confirm(request: HttpRequest, pk: str) -> HttpResponse:
    """A form the bank sent: its values with where each came from; correct, complete and
    confirm it (it then goes to the bank's review)."""
    submission = visible_or_404(submission_sent_get, "form")(request.user, parse_id(pk) or 0)
    definition = submission.definition
    choices = [
        (str(t.id), f"{t.posted_date:%Y-%m-%d} · {t.merchant} · {t.amount} {t.currency}")
        for t in own_transactions(request.user, ids=[submission.transaction_id or 0])
    ]
    form_class = build_form_class(definition)
    confirmed = submission.customer_confirmed_at is not None or submission.status != "draft"
    errors: list[str] = []
    if request.method == "POST" and not confirmed:
        form = form_class(request.POST, transaction_choices=choices)
        form.is_valid()  # the form's own messages; the service's are added where new
        try:
            submission_confirm_by_customer(
                user=request.user,
                submission=submission,
                data=post_data(definition, request.POST),
                reauthenticated=_password_again(request, definition),
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, texts in error.message_dict.items():
                    key = field if field in form.fields else None
                    for text in texts:
                        if text not in form.errors.get(key or "__all__", []):
                            form.add_error(key, text)
            else:
                errors = error.messages
        else:
            flash.success(request, "Thank you: the form is confirmed and sent to the bank.")
            return redirect("secure:form", pk=submission.pk)
    else:
        form = form_class(
            initial=submission_data_for_customer(submission), transaction_choices=choices
        )
    for spec in definition.fields.all():
        if spec.key in form.fields:
            if spec.type in ("transaction_picker", "file"):
                form.fields[spec.key].disabled = True  # the bank's binding
            label = _origin_label((submission.provenance or {}).get(spec.key), submission)
            if label:
                form.fields[spec.key].help_text = label
    return render(
        request,
        "secure/form.html",
        {
            "submission": submission,
            "definition": definition,
            "form": form,
            "confirmed": confirmed,
            "errors": errors,
            "values": submission_data_for_customer(submission),
        },
        status=400 if (form.errors or errors) else 200,
    )


@secure_page
@require_GET
def attachment(request: HttpRequest, pk: str, attachment_id: str) -> HttpResponseBase:
    """A file of one of the customer's messages, or of a reply the bank sent them."""
    row = visible_or_404(thread_get, "thread")(request.user, parse_id(pk) or 0)
    item = visible_or_404(attachment_get, "file")(request.user, row, parse_id(attachment_id) or 0)
    return attachment_download(request, item)
