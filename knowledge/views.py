"""Knowledge pages: search, the document list, upload, detail, replace, reprocess, and the
lifecycle: archive, restore and delete (a confirmation page)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from knowledge.forms import (
    DocumentFilterForm,
    DocumentReasonForm,
    DocumentReplaceForm,
    DocumentUploadForm,
    SearchForm,
)
from knowledge.models import Document, DocumentStatus, DocumentVersion
from knowledge.permissions import can_manage_collection, collections_managed_by
from knowledge.selectors import (
    SearchMode,
    SearchResult,
    chunk_search,
    document_chunks,
    document_get,
    document_list,
    managed_document_get,
)
from knowledge.services import (
    document_archive,
    document_create,
    document_delete,
    document_replace_file,
    document_reprocess,
    document_restore,
)
from portal.forms import add_form_error
from portal.permissions import Action
from portal.shortcuts import visible_or_404
from portal.views.decorators import portal_page
from portal.views.pagination import page_context

DOCUMENTS_PER_PAGE = 25


# Forbidden answers like missing.
_document_or_404 = visible_or_404(document_get, "document")
# Archive, restore and delete: a document the user does not manage is missing to them.
_managed_document_or_404 = visible_or_404(managed_document_get, "document")


def _uploaded_message(request: HttpRequest, document: Document, what: str) -> None:
    if document.status == DocumentStatus.FAILED:
        messages.warning(request, f"{what} was not accepted: {document.error}")
    else:
        messages.success(request, f"{what} was uploaded and queued for processing.")


@require_GET
@portal_page(Action.SEARCH_KNOWLEDGE)
def search(request: HttpRequest) -> HttpResponse:
    result: SearchResult | None = None
    if request.GET.get("q", "").strip():
        params = request.GET.copy()
        params.setdefault("mode", SearchMode.HYBRID.value)
        params.setdefault("k", "10")
        form = SearchForm(params, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = chunk_search(
                    request.user,
                    data["q"],
                    k=data["k"],
                    collections=[data["collection"]] if data["collection"] else None,
                    mode=data["mode"],
                )
            except ValidationError as error:
                add_form_error(form, error)
    else:
        # Nothing to search for yet: an unbound form, so no "required" errors.
        initial = {
            key: request.GET[key] for key in ("collection", "mode", "k") if key in request.GET
        }
        form = SearchForm(initial=initial, user=request.user)
    return render(request, "knowledge/search.html", {"form": form, "result": result})


@require_GET
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_list_view(request: HttpRequest) -> HttpResponse:
    form = DocumentFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    documents = document_list(
        request.user,
        collection=filters.get("collection") or None,
        status=filters.get("status") or "",
        archived=filters.get("archived") == "true",
    )
    context = page_context(request, documents, DOCUMENTS_PER_PAGE)
    context.update(
        filter_form=form,
        documents=context["page_obj"].object_list,
        can_upload=collections_managed_by(request.user).exists(),
        archived=filters.get("archived") == "true",
    )
    return render(request, "knowledge/document_list.html", context)


@require_http_methods(["GET", "POST"])
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_upload(request: HttpRequest) -> HttpResponse:
    if not collections_managed_by(request.user).exists():
        raise PermissionDenied("You manage no collection.")
    if request.method == "POST":
        form = DocumentUploadForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            upload: UploadedFile | None = data["file"]
            try:
                document = document_create(
                    actor=request.user,
                    collection=data["collection"],
                    title=data["title"],
                    file=upload,
                    source_url=data["source_url"] or "",
                    effective_date=data["effective_date"],
                    content_type=upload.content_type if upload else None,
                )
            except (ValidationError, PermissionDenied) as error:
                add_form_error(form, error)
            else:
                _uploaded_message(request, document, f"“{document.title}”")
                return redirect("knowledge:document_detail", pk=document.pk)
    else:
        form = DocumentUploadForm(
            user=request.user, initial={"collection": request.GET.get("collection")}
        )
    return render(request, "knowledge/document_upload.html", {"form": form})


@require_GET
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    document = _document_or_404(request.user, pk)
    can_manage = can_manage_collection(request.user, document.collection)
    source_url = document.source_url
    versions = DocumentVersion.objects.filter(document=document).select_related("uploaded_by")
    context = {
        "document": document,
        "versions": versions.order_by("-number"),
        "chunks": document_chunks(document),
        "can_manage": can_manage,
        "replace_form": DocumentReplaceForm(user=request.user) if can_manage else None,
        "archive_form": DocumentReasonForm(prefix="archive") if can_manage else None,
        # Only web links become links: never javascript: or data: URLs.
        "source_link": source_url if source_url.lower().startswith(("http://", "https://")) else "",
    }
    return render(request, "knowledge/document_detail.html", context)


@require_POST
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_replace(request: HttpRequest, pk: int) -> HttpResponse:
    document = _document_or_404(request.user, pk)
    form = DocumentReplaceForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"The file was not replaced: {errors}")
        return redirect("knowledge:document_detail", pk=document.pk)
    upload: UploadedFile = form.cleaned_data["file"]
    try:
        document = document_replace_file(
            actor=request.user,
            document=document,
            file=upload,
            effective_date=form.cleaned_data["effective_date"],
            content_type=upload.content_type,
        )
    except ValidationError as error:
        messages.error(request, f"The file was not replaced: {'; '.join(error.messages)}")
    else:
        _uploaded_message(request, document, f"Version {document.version}")
    return redirect(reverse("knowledge:document_detail", kwargs={"pk": document.pk}))


@require_POST
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_reprocess_view(request: HttpRequest, pk: int) -> HttpResponse:
    document = _document_or_404(request.user, pk)
    try:
        document_reprocess(actor=request.user, document=document)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, f"“{document.title}” was queued for processing again.")
    return redirect("knowledge:document_detail", pk=document.pk)


@require_POST
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_archive_view(request: HttpRequest, pk: int) -> HttpResponse:
    document = _managed_document_or_404(request.user, pk)
    form = DocumentReasonForm(request.POST, prefix="archive")
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"The document was not archived: {errors}")
        return redirect("knowledge:document_detail", pk=document.pk)
    try:
        document_archive(actor=request.user, document=document, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(
            request,
            f"“{document.title}” was archived: it no longer appears in search or answers. "
            "Restore it to make it searchable again.",
        )
    return redirect("knowledge:document_detail", pk=document.pk)


@require_POST
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    document = _managed_document_or_404(request.user, pk)
    try:
        document_restore(actor=request.user, document=document)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, f"“{document.title}” was restored and is searchable again.")
    return redirect("knowledge:document_detail", pk=document.pk)


@require_http_methods(["GET", "POST"])
@portal_page(Action.SEARCH_KNOWLEDGE)
def document_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A confirmation page (GET), then the deletion (POST)."""
    document = _managed_document_or_404(request.user, pk)
    versions = DocumentVersion.objects.filter(document=document).count()
    form = DocumentReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            document_delete(
                actor=request.user, document=document, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_form_error(form, error)
        else:
            messages.success(
                request,
                f"“{document.title}” was deleted with its {versions} "
                f"version{pluralize(versions)} and its indexed text.",
            )
            return redirect("knowledge:document_list")
    context = {"document": document, "form": form, "version_count": versions}
    return render(request, "knowledge/document_delete.html", context)
