"""Form pages: fill with pre-fill, drafts and submissions, the review queue, a preview."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction as db_transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from forms_app.forms import DefinitionForm, build_form_class, post_data
from forms_app.models import FieldType, FormDefinition, FormSubmission
from forms_app.permissions import can_edit_submission, can_manage_definitions
from forms_app.selectors import (
    definition_get,
    definition_get_for_preview,
    definition_list,
    review_queue,
    submission_data_for,
    submission_get,
    submission_list_mine,
    values_for,
)
from forms_app.services import (
    prefill,
    submission_attach_file,
    submission_create_draft,
    submission_update_draft,
)
from forms_app.services import submission_transition as take_transition
from forms_app.services.customer_forms import customer_changes
from forms_app.services.submissions import picker_choices
from forms_app.workflow import TRANSITIONS, transitions_allowed
from knowledge.customers.selectors import (
    MAX_QUERY_LENGTH,
    customer_accounts,
    customer_get,
    customer_records_get,
    customer_search,
    customer_transactions,
    customer_view,
)
from portal.permissions import Action
from portal.services import audit_event_record
from portal.shortcuts import stored_file_response, visible_or_404
from portal.validation import parse_id
from portal.views.decorators import portal_page

RECENT_TRANSACTIONS = 50


@require_GET
@portal_page(Action.FILL_FORMS)
def form_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "forms_app/form_list.html",
        {
            "definitions": definition_list(request.user),
            "can_manage": can_manage_definitions(request.user),
        },
    )


def _int_param(params: Any, name: str) -> int | None:
    return parse_id(str(params.get(name, "")))


def provenance_label(provenance: dict[str, Any] | None) -> str:
    """The badge text of one field's provenance."""
    if not provenance:
        return ""
    if provenance.get("source") == "customer_record":
        if provenance.get("masked"):
            return "masked — enter manually"
        return f"from {provenance['record']} #{provenance['id']} · {provenance['field']}"
    if provenance.get("source") == "customer":
        return "changed by the customer"
    if provenance.get("source") == "conversation":
        how = "chosen by the assistant from" if provenance.get("interpreted") else "from"
        return f"{how} assistant conversation · message #{provenance.get('message_id')} — check it"
    return "entered manually"


def _add_badges(form: DefinitionForm, provenance: dict[str, Any]) -> None:
    """A provenance badge in each pre-filled field's help text (crispy renders it as HTML)."""
    for key, origin in provenance.items():
        label = provenance_label(origin)
        if not label or key not in form.fields or origin.get("source") != "customer_record":
            continue
        css = "text-bg-warning" if origin.get("masked") else "text-bg-info"
        field = form.fields[key]
        field.help_text = format_html(
            '<span class="badge {} portal-provenance" data-provenance="{}">{}</span> {}',
            css,
            key,
            label,
            field.help_text or "",
        )


def _customer_context(
    request: HttpRequest, definition: FormDefinition, params: Any
) -> dict[str, Any]:
    """The chosen customer, account and transaction (404 when not visible or not theirs)."""
    user = request.user
    context: dict[str, Any] = {"customer": None, "account": None, "transaction": None}
    customer_id = _int_param(params, "customer")
    if customer_id is None:
        return context
    customer = visible_or_404(customer_get, "customer")(user, customer_id)  # audited
    accounts = customer_accounts(user, customer)
    try:
        _, account, txn = customer_records_get(
            user, customer, _int_param(params, "account"), _int_param(params, "transaction")
        )
    except ValidationError as not_theirs:  # another customer's row answers like a missing one
        what = "account" if "account" in not_theirs.message_dict else "transaction"
        raise Http404(f"No such {what}.") from not_theirs
    has_picker = any(spec.type == FieldType.TRANSACTION_PICKER for spec in definition.fields.all())
    transactions = []
    if has_picker and account is not None:
        transactions = [
            row
            for row in customer_transactions(user, customer, RECENT_TRANSACTIONS)
            if row.account_id == account.pk
        ]
    context.update(
        customer=customer,
        customer_view=customer_view(user, customer),
        accounts=accounts,
        account=account,
        transaction=txn,
        has_picker=has_picker,
        transactions=transactions,
    )
    return context


@require_http_methods(["GET", "POST"])
@portal_page(Action.FILL_FORMS)
def form_fill(request: HttpRequest, slug: str) -> HttpResponse:
    definition = visible_or_404(definition_get, "form")(request.user, slug)
    params = request.POST if request.method == "POST" else request.GET
    context = _customer_context(request, definition, params)
    customer, account, txn = context["customer"], context["account"], context["transaction"]
    choices = picker_choices(request.user, customer, account, txn) if customer else []
    form_class = build_form_class(definition)
    query = request.GET.get("customer_q", "").strip()[:MAX_QUERY_LENGTH]
    context.update(
        definition=definition,
        preview=False,
        customer_q=query,
        customer_results=customer_search(request.user, query) if query else None,
        max_length=MAX_QUERY_LENGTH,
    )
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, transaction_choices=choices)
        form.is_valid()
        if customer is None:
            context.update(form=form, no_customer=True)
            return render(request, "forms_app/form_fill.html", context)
        submit = request.POST.get("action") == "submit"
        try:
            with db_transaction.atomic():
                submission = submission_create_draft(
                    actor=request.user,
                    definition=definition,
                    customer=customer,
                    account=account,
                    transaction=txn,
                    data=post_data(definition, request.POST),
                )
                _attach_uploads(request, submission)
                if submit:
                    submission = take_transition(
                        actor=request.user, submission=submission, name="submit"
                    )
        except ValidationError as invalid:
            context.update(form=form, errors=_messages_of(invalid))
            return render(request, "forms_app/form_fill.html", context)
        if submit:
            messages.success(request, "Submitted for review.")
        else:
            messages.success(request, "Draft saved. Nothing is submitted until you press Submit.")
        return redirect("forms_app:submission_detail", pk=submission.pk)
    provenance: dict[str, Any] = {}
    initial: dict[str, Any] = {}
    if customer is not None:
        try:
            values = prefill(request.user, definition, customer, account, txn)
        except (ObjectDoesNotExist, ValidationError) as missing:
            raise Http404("No such customer.") from missing
        initial = {k: v["value"] for k, v in values.items() if v["value"] is not None}
        provenance = {k: v["provenance"] for k, v in values.items() if v["provenance"]}
    form = form_class(initial=initial, transaction_choices=choices)
    _add_badges(form, provenance)
    context.update(form=form)
    return render(request, "forms_app/form_fill.html", context)


def _messages_of(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [
            f"{key}: {message}" if key != "__all__" else message
            for key, messages_ in error.message_dict.items()
            for message in messages_
        ]
    return list(error.messages)


@require_http_methods(["GET", "POST"])
@portal_page(Action.USE_PORTAL)
def form_preview(request: HttpRequest, slug: str) -> HttpResponse:
    version = parse_id(request.GET.get("version", ""))
    definition = visible_or_404(definition_get_for_preview, "form")(request.user, slug, version)
    form_class = build_form_class(definition)
    validated = False
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        validated = form.is_valid()
    else:
        form = form_class()
    versions = FormDefinition.objects.filter(slug=slug).order_by("-version")
    return render(
        request,
        "forms_app/form_fill.html",
        {
            "definition": definition,
            "form": form,
            "validated": validated,
            "preview": True,
            "versions": versions.values("version", "status"),
        },
    )


def _attach_uploads(request: HttpRequest, submission: FormSubmission) -> None:
    """Store the files given for the form's file fields (inside the caller's transaction)."""
    for spec in submission.definition.fields.filter(type=FieldType.FILE):
        upload = request.FILES.get(spec.key)
        if upload is not None:
            submission_attach_file(
                actor=request.user, submission=submission, key=spec.key, upload=upload
            )


@require_GET
@portal_page(Action.USE_PORTAL)
def submission_attachment(request: HttpRequest, pk: int, attachment_id: int) -> FileResponse:
    """Download a submission's file: whoever may see the submission may see its files.

    The file is encrypted at rest and decrypted here as it streams (``portal.storage``); a
    wrong key or a damaged file fails before the response starts.
    """
    submission = visible_or_404(submission_get, "submission")(request.user, pk)
    attachment = get_object_or_404(submission.attachments, pk=attachment_id)
    response = stored_file_response(
        attachment.file,
        filename=attachment.original_filename,
        content_type=attachment.content_type,
        size=attachment.size_bytes,
    )
    audit_event_record(
        action="form_submission.file_downloaded",
        actor=request.user,
        target=submission,
        details={"attachment_id": attachment.pk, "filename": attachment.original_filename},
    )
    return response


def _download_url(submission: FormSubmission, value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("attachment_id"), int):
        return reverse(
            "forms_app:submission_attachment",
            kwargs={"pk": submission.pk, "attachment_id": value["attachment_id"]},
        )
    return ""


def _display(spec: Any, value: Any) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, dict) and "filename" in value:
        return str(value["filename"])
    if isinstance(value, bool):
        return "Yes" if value else "No"
    labels = {str(v): str(label) for v, label in spec.choices or []}
    if isinstance(value, list):
        return ", ".join(labels.get(str(item), str(item)) for item in value)
    return labels.get(str(value), str(value))


@require_GET
@portal_page(Action.FILL_FORMS)
def submission_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "forms_app/submission_list.html",
        {"submissions": submission_list_mine(request.user)},
    )


@require_GET
@portal_page(Action.REVIEW_FORMS)
def review_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "forms_app/review_queue.html", {"submissions": review_queue(request.user)}
    )


@require_http_methods(["GET", "POST"])
@portal_page(Action.USE_PORTAL)
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = visible_or_404(submission_get, "submission")(request.user, pk)
    definition = submission.definition
    with_customer = bool(submission.sent_to_customer_at and not submission.customer_confirmed_at)
    editable = (
        submission.status == "draft"
        and not with_customer
        and can_edit_submission(request.user, submission)
    )
    form = None
    errors: list[str] = []
    if editable:
        choices = picker_choices(
            request.user, submission.customer, submission.account, submission.transaction
        )
        form_class = build_form_class(definition)
        if request.method == "POST":
            form = form_class(request.POST, request.FILES, transaction_choices=choices)
            form.is_valid()
            submit = request.POST.get("action") == "submit"
            try:
                with db_transaction.atomic():
                    submission = submission_update_draft(
                        actor=request.user,
                        submission=submission,
                        data=post_data(definition, request.POST),
                    )
                    _attach_uploads(request, submission)
                    if submit:
                        submission = take_transition(
                            actor=request.user, submission=submission, name="submit"
                        )
            except ValidationError as invalid:
                errors = _messages_of(invalid)
            else:
                messages.success(request, "Submitted for review." if submit else "Draft saved.")
                return redirect("forms_app:submission_detail", pk=submission.pk)
        else:
            form = form_class(initial=submission.data, transaction_choices=choices)
            _add_badges(form, submission.provenance)
    elif request.method == "POST":
        raise PermissionDenied
    shown = submission_data_for(request.user, submission)
    rows = [
        {
            "label": spec.label,
            "value": _display(spec, shown.get(spec.key)),
            "provenance": provenance_label(submission.provenance.get(spec.key)),
            "masked": bool((submission.provenance.get(spec.key) or {}).get("masked")),
            "from_record": (submission.provenance.get(spec.key) or {}).get("source")
            == "customer_record",
            "download_url": _download_url(submission, shown.get(spec.key)),
        }
        for spec in definition.fields.all()
    ]
    allowed = transitions_allowed(request.user, submission)
    return render(
        request,
        "forms_app/submission_detail.html",
        {
            "submission": submission,
            "definition": definition,
            "rows": rows,
            "events": submission.events.select_related("actor"),
            "transitions": [row for row in allowed if row.action_button],
            "can_submit": any(row.name == "submit" for row in allowed),
            "form": form,
            "errors": errors,
            "with_customer": with_customer,
            "customer_changes": _changes_shown(request.user, submission),
        },
    )


def _changes_shown(user: Any, submission: FormSubmission) -> list[dict[str, Any]]:
    """What the customer changed, each value as ``user`` may see it (masked like the rest)."""
    changes = customer_changes(submission)
    sent = values_for(user, submission, {c["key"]: c["sent"] for c in changes})
    now = values_for(user, submission, {c["key"]: c["now"] for c in changes})
    return [{**c, "sent": sent.get(c["key"]), "now": now.get(c["key"])} for c in changes]


@require_POST
@portal_page(Action.USE_PORTAL)
def submission_transition(request: HttpRequest, pk: int, transition: str) -> HttpResponse:
    """Take one transition of ``forms_app.workflow.TRANSITIONS`` (its button's POST)."""
    if transition not in TRANSITIONS:
        raise Http404("No such action.")
    submission = visible_or_404(submission_get, "submission")(request.user, pk)
    try:
        take_transition(
            actor=request.user,
            submission=submission,
            name=transition,
            comment=request.POST.get("comment", ""),  # kept only where the transition takes one
        )
    except ValidationError as invalid:
        for message in _messages_of(invalid):
            messages.error(request, message)
    else:
        messages.success(request, f"Submission #{submission.pk}: {transition.replace('_', ' ')}.")
    return redirect("forms_app:submission_detail", pk=submission.pk)
