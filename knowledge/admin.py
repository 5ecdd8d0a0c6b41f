"""Admin for collections, documents (through the services) and chunks (read-only).

One more adapter over knowledge.permissions: a user sees the collections they manage and the
documents and chunks they may read (archived documents: those they manage); a row outside
that answers like a missing one. Archiving, restoring and deleting documents go through the
services (files and chunks removed, audited), the admin's own bulk delete included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ForeignKey, Model, QuerySet
from django.http import HttpRequest, HttpResponse

from knowledge.models import Chunk, Collection, Document, DocumentVersion, GoldenQuestion
from knowledge.permissions import (
    can_change_collection_access,
    can_create_collection,
    can_manage_collection,
    collections_managed_by,
    collections_visible_to,
    documents_managed_by,
    documents_visible_to,
)
from knowledge.services import (
    ACCESS_FIELDS,
    ARCHIVED_NO_NEW_VERSION,
    CUSTOMER_FACING_REFUSED,
    collection_access_check,
    collection_create,
    collection_creator_check,
    collection_delete,
    collection_fusion_fit,
    collection_fusion_reset,
    collection_slug_check,
    collection_update,
    document_archive,
    document_create,
    document_delete,
    document_replace_file,
    document_reprocess,
    document_restore,
    golden_question_check,
    golden_question_delete,
    golden_question_save,
)
from portal.permissions import STAFF_ROLES
from portal.validation import parse_id

# A fit searches both sides for each question (~50 ms each) inside the request.
ADMIN_FIT_MAX_QUESTIONS = 200
ROLE_CHOICES = [(role.value, role.value.replace("_", " ").capitalize()) for role in STAFF_ROLES]


class CollectionAdminForm(forms.ModelForm[Collection]):
    read_roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Roles that may read (and search) the documents.",
    )
    manage_roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Roles that may upload, replace and reprocess documents.",
    )
    actor: Any = None  # the signed-in user, set by CollectionAdmin.get_form

    class Meta:
        model = Collection
        fields = [
            "slug",
            "name",
            "description",
            "sensitivity",
            "read_roles",
            "manage_roles",
            "read_regions",
            "customer_facing",
        ]

    def clean_slug(self) -> str:
        slug: str = self.cleaned_data["slug"]
        # The service's words for a taken slug (not "already exists": no existence oracle).
        try:
            collection_slug_check(slug, collection=self.instance)
        except ValidationError as error:
            raise ValidationError(error.message_dict["slug"]) from error
        return slug

    def clean_read_roles(self) -> list[str]:
        return sorted(self.cleaned_data.get("read_roles") or [])

    def clean_manage_roles(self) -> list[str]:
        return sorted(self.cleaned_data.get("manage_roles") or [])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The service's own rules, checked here too so that a refusal shows on the form.
        try:
            if self.instance.pk is not None:
                collection_access_check(
                    actor=self.actor,
                    collection=self.instance,
                    **{field: cleaned[field] for field in ACCESS_FIELDS if field in cleaned},
                )
            else:
                collection_creator_check(
                    actor=self.actor,
                    manage_roles=cleaned.get("manage_roles") or [],
                    read_regions=cleaned.get("read_regions") or [],
                )
                if cleaned.get("customer_facing") and not can_change_collection_access(self.actor):
                    raise ValidationError({"customer_facing": CUSTOMER_FACING_REFUSED})
        except ValidationError as error:
            for field, messages_ in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages_)
        return cleaned


_Row = TypeVar("_Row", bound=Model)


class ManagedRowsAdmin(admin.ModelAdmin[_Row]):
    """Rows shown, changed and deleted only by who manages their collection
    (``collection_of``); anything else answers like a missing row."""

    def collection_of(self, obj: _Row) -> Collection:
        raise NotImplementedError

    def _manages(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or can_manage_collection(request.user, self.collection_of(obj))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._manages(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._manages(request, obj)


COLLECTION_FIELDS = ("slug", "name", "description", "sensitivity", *ACCESS_FIELDS)


@admin.register(Collection)
class CollectionAdmin(ManagedRowsAdmin[Collection]):
    """Collections the user manages (knowledge.permissions), written through the services:
    roles and regions of an existing collection only by who may decide access."""

    form = CollectionAdminForm
    list_display = [
        "name",
        "slug",
        "sensitivity",
        "read_roles",
        "manage_roles",
        "customer_facing",
        "fusion",
    ]
    list_filter = ["sensitivity", "customer_facing"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["read_regions"]
    actions = ["fit_fusion", "reset_fusion"]
    FUSION_FIELDS = ["fusion", "fusion_fitted_at", "fusion_fit_figures"]

    @admin.display(description="hybrid dense weight")
    def fusion(self, obj: Collection) -> str:
        if obj.fusion_weight is None:
            return "default"
        return f"{obj.fusion_weight:.2f} (fitted)"

    @admin.display(description="fit (nDCG@10 on the golden questions)")
    def fusion_fit_figures(self, obj: Collection) -> str:
        fit = obj.fusion_fit or {}
        if not fit:
            return "Not fitted: add golden questions, then the action “Fit the hybrid weight”."
        return (
            f"{fit.get('questions')} questions: dense {fit.get('dense')}, keyword "
            f"{fit.get('keyword')}, hybrid with the default weight {fit.get('hybrid_default')}, "
            f"with the fitted weight {fit.get('ndcg_at_10', {}).get(f'{obj.fusion_weight:.2f}')}"
        )

    @admin.action(description="Fit the hybrid weight from the golden questions")
    def fit_fusion(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            if collection.golden_questions.count() > ADMIN_FIT_MAX_QUESTIONS:
                self.message_user(
                    request,
                    f"{collection}: more than {ADMIN_FIT_MAX_QUESTIONS} golden questions take "
                    f"too long for a page: run manage.py fit_fusion {collection.slug}.",
                    messages.ERROR,
                )
                continue
            try:
                fit = collection_fusion_fit(actor=request.user, collection=collection)
            except ValidationError as error:
                self.message_user(
                    request, f"{collection}: {' '.join(error.messages)}", messages.ERROR
                )
                continue
            self.message_user(
                request,
                f"{collection}: dense weight {fit.dense_weight:.2f} from {fit.questions} "
                f"golden questions (nDCG@10 {fit.best:.4f}).",
                messages.SUCCESS,
            )

    @admin.action(description="Reset the hybrid weight to the default")
    def reset_fusion(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            collection_fusion_reset(actor=request.user, collection=collection)
        self.message_user(request, f"{queryset.count()} collection(s) back to the default weight.")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Collection]:
        managed = collections_managed_by(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=managed)

    def collection_of(self, obj: Collection) -> Collection:
        return obj

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and can_create_collection(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not can_change_collection_access(request.user):
            fields += list(ACCESS_FIELDS)  # shown, not editable
        return fields + (self.FUSION_FIELDS if obj is not None else [])

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def save_model(self, request: HttpRequest, obj: Collection, form: Any, change: bool) -> None:
        values = {f: form.cleaned_data[f] for f in COLLECTION_FIELDS if f in form.cleaned_data}
        if change:
            saved = collection_update(actor=request.user, collection=obj, **values)
        else:
            saved = collection_create(actor=request.user, **values)
        # What the service stored becomes the admin's object (its pk for the redirect).
        for field in Collection._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The regions were set by the service; only inline formsets (none today) remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Collection) -> None:
        collection_delete(actor=request.user, collection=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        for collection in queryset:
            collection_delete(actor=request.user, collection=collection)


class ManagedCollectionFilter(admin.SimpleListFilter):
    """Only the collections the user manages (the plain filter names every collection)."""

    title = "collection"
    parameter_name = "collection"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(c.pk), c.name) for c in collections_managed_by(request.user)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = parse_id(self.value()) if self.value() else None
        return queryset.filter(collection_id=value) if value is not None else queryset


class GoldenQuestionForm(forms.ModelForm[GoldenQuestion]):
    class Meta:
        model = GoldenQuestion
        fields = ["collection", "question", "expected_documents"]
        help_texts = {
            "question": "Asked as a user would ask it.",
            "expected_documents": "The documents of this collection that answer it.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        documents = cleaned.get("expected_documents") or []
        collection = cleaned.get("collection") or (
            self.instance.collection if self.instance.pk else None
        )
        if collection is None:
            return cleaned
        if any(d.collection_id != collection.pk for d in documents):
            self.add_error("expected_documents", "Choose documents of the chosen collection.")
        if "question" in cleaned:
            golden = self.instance if self.instance.pk else None
            try:
                cleaned["question"] = golden_question_check(collection, cleaned["question"], golden)
            except ValidationError as error:
                self.add_error("question", error.message_dict["question"])
        return cleaned


@admin.register(GoldenQuestion)
class GoldenQuestionAdmin(ManagedRowsAdmin[GoldenQuestion]):
    """Golden questions of the collections the user manages (knowledge.fusion): written
    through the services; they fit the collection's hybrid weight (Collections, action)."""

    form = GoldenQuestionForm
    list_display = ["question", "collection", "expected", "updated_at"]
    list_filter = [ManagedCollectionFilter]
    list_select_related = ["collection"]
    search_fields = ["question"]
    autocomplete_fields = ["expected_documents"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    @admin.display(description="expected documents")
    def expected(self, obj: GoldenQuestion) -> int:
        return obj.expected_documents.count()

    def get_queryset(self, request: HttpRequest) -> QuerySet[GoldenQuestion]:
        managed = collections_managed_by(request.user).values("pk")
        return super().get_queryset(request).filter(collection__in=managed)

    def collection_of(self, obj: GoldenQuestion) -> Collection:
        return obj.collection

    def has_add_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_add_permission(request)
        return allowed and collections_managed_by(request.user).exists()

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "collection":
            kwargs["queryset"] = collections_managed_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "expected_documents":
            kwargs["queryset"] = documents_managed_by(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A question stays in its collection (golden_question_save).
        fields = list(self.readonly_fields)
        return ["collection", *fields] if obj is not None else fields

    def save_model(
        self, request: HttpRequest, obj: GoldenQuestion, form: Any, change: bool
    ) -> None:
        saved = golden_question_save(
            actor=request.user,
            collection=obj.collection if change else form.cleaned_data["collection"],
            question=form.cleaned_data["question"],
            documents=list(form.cleaned_data["expected_documents"]),
            golden=obj if change else None,
        )
        obj.pk = saved.pk
        obj._state.adding = False
        obj._state.db = saved._state.db

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # the expected documents were set by the service

    def delete_model(self, request: HttpRequest, obj: GoldenQuestion) -> None:
        golden_question_delete(actor=request.user, golden=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[GoldenQuestion]) -> None:
        for golden in queryset:
            golden_question_delete(actor=request.user, golden=golden)


VERSION_FIELDS = (
    "number",
    "status",
    "error",
    "original_filename",
    "content_type",
    "size_bytes",
    "sha256",
    "effective_date",
    "uploaded_by",
    "created_at",
)


class DocumentVersionInline(admin.TabularInline[DocumentVersion, Document]):
    """The upload history: written by the services only."""

    model = DocumentVersion
    fields = readonly_fields = VERSION_FIELDS
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DocumentAdminForm(forms.ModelForm[Document]):
    # A plain file input: clearing the file of a document is not a supported change.
    file = forms.FileField(
        required=False,
        widget=forms.FileInput,
        help_text="PDF, Word (.docx), HTML, Markdown or plain text. "
        "On an existing document a new file becomes a new version.",
    )

    class Meta:
        model = Document
        fields = ["collection", "title", "file", "source_url", "effective_date"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["file"].required = True

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        # The service's rule (document_replace_file), shown on the form.
        if upload and self.instance.pk is not None and self.instance.archived_at is not None:
            raise ValidationError(ARCHIVED_NO_NEW_VERSION)
        return upload


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Current"), ("yes", "Archived")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(archived_at__isnull=self.value() == "no")
        return queryset


LifecycleService = Callable[..., Any]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin[Document]):
    form = DocumentAdminForm
    list_display = [
        "title",
        "collection",
        "status",
        "version",
        "live_version",
        "chunk_count",
        "archived_at",
        "updated_at",
    ]
    # Only the collections of the listed documents: the plain filter names every collection.
    list_filter = ["status", ArchivedFilter, ("collection", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["collection"]
    search_fields = ["title"]
    readonly_fields = [
        "status",
        "error",
        "version",
        "live_version",
        "original_filename",
        "sha256",
        "size_bytes",
        "content_type",
        "chunk_count",
        "uploaded_by",
        "archived_at",
        "archived_by",
        "archive_reason",
        "created_at",
        "updated_at",
    ]
    inlines = [DocumentVersionInline]
    actions = ["reprocess", "archive", "restore"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        # The admin is one more adapter over the policy: unreadable documents are not listed.
        return super().get_queryset(request).filter(pk__in=documents_visible_to(request.user))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Document], search_term: str
    ) -> tuple[QuerySet[Document], bool]:
        # The golden questions' document picker offers the documents the user manages.
        if request.GET.get("model_name") == "goldenquestion":
            queryset = queryset.filter(pk__in=documents_managed_by(request.user))
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_add_permission(request)
        return allowed and collections_managed_by(request.user).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        readable = documents_visible_to(request.user)
        return allowed and (obj is None or readable.filter(pk=obj.pk).exists())

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or can_manage_collection(request.user, obj.collection))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or can_manage_collection(request.user, obj.collection))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        # Chunks carry their collection: moving a document is not a supported change.
        return ["collection", *fields] if obj is not None else fields

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "collection":
            kwargs["queryset"] = collections_managed_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        data = form.cleaned_data
        upload = data.get("file")
        content_type = getattr(upload, "content_type", None)
        if not change:
            document = document_create(
                actor=request.user,
                collection=data["collection"],
                title=data["title"],
                file=upload,
                source_url=data.get("source_url") or "",
                effective_date=data.get("effective_date"),
                content_type=content_type,
            )
        else:
            obj.save(update_fields=["title", "source_url", "effective_date", "updated_at"])
            document = obj
            if upload and "file" in form.changed_data:
                document = document_replace_file(
                    actor=request.user,
                    document=obj,
                    file=upload,
                    effective_date=data.get("effective_date"),
                    content_type=content_type,
                )
        # What the service stored becomes the admin's object (its pk for the redirect).
        for field in Document._meta.concrete_fields:
            setattr(obj, field.attname, getattr(document, field.attname))
        obj._state.adding = False
        obj._state.db = document._state.db
        if document.status == "failed":
            messages.warning(request, f"“{document.title}” was not accepted: {document.error}")

    # Deleting: through document_delete (every version's file, the chunks, audited) ----------

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # A document the user does not manage answers like a missing one (not 403).
        pk = parse_id(object_id)
        if pk is None or not documents_managed_by(request.user).filter(pk=pk).exists():
            # Django's own "doesn't exist" answer (a message and the index), as for any row
            # outside get_queryset.
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
                request, self.opts, object_id
            )
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(
        self, objs: Iterable[Document], request: HttpRequest
    ) -> tuple[list[Any], dict[Any, int], set[Any], list[Any]]:
        """The confirmation page lists each document with what goes with it: the service
        deletes its versions, files and chunks (which no one deletes on their own)."""
        documents = list(objs)
        managed = set(
            documents_managed_by(request.user)
            .filter(pk__in=[document.pk for document in documents])
            .values_list("pk", flat=True)
        )
        to_delete = [
            f"{document.collection}: {document.title} (every version and its file, "
            f"{document.chunk_count} indexed passage(s))"
            for document in documents
        ]
        unmanaged = any(document.pk not in managed for document in documents)
        perms_needed = {self.opts.verbose_name} if unmanaged else set()
        return to_delete, {self.opts.verbose_name_plural: len(documents)}, perms_needed, []

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        document_delete(actor=request.user, document=obj, reason="")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            document_delete(actor=request.user, document=document, reason="")

    # Actions -------------------------------------------------------------------------------

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Document],
        service: LifecycleService,
        done: str,
    ) -> None:
        """Run a lifecycle service on each selected document the user manages."""
        managed = documents_managed_by(request.user)
        count, refused = 0, []
        for document in queryset:
            if not managed.filter(pk=document.pk).exists():
                refused.append(f"{document.title}: you do not manage its collection.")
                continue
            try:
                service(actor=request.user, document=document)
            except (ValidationError, PermissionDenied) as error:
                reason = "; ".join(error.messages) if isinstance(error, ValidationError) else error
                refused.append(f"{document.title}: {reason}")
            else:
                count += 1
        if count:
            messages.success(request, f"{done} {count} document(s).")
        for line in refused:
            messages.error(request, line)

    @admin.action(
        description="Archive selected documents (out of search and answers, kept)",
        permissions=["change"],
    )
    def archive(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        self._each(request, queryset, document_archive, "Archived")

    @admin.action(description="Restore selected archived documents", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        self._each(request, queryset, document_restore, "Restored")

    @admin.action(description="Reprocess selected documents")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        queued, refused = 0, []
        for document in queryset:
            try:
                document_reprocess(actor=request.user, document=document)
            except (ValidationError, PermissionDenied) as error:
                reason = "; ".join(error.messages) if isinstance(error, ValidationError) else error
                refused.append(f"{document.title}: {reason}")
            else:
                queued += 1
        if queued:
            messages.success(request, f"Queued {queued} document(s) for processing.")
        for line in refused:
            messages.error(request, line)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin[Chunk]):
    """Chunks are written by ingestion only: viewable here, never edited."""

    list_display = ["document", "ordinal", "page", "token_count", "embedding_model"]
    list_select_related = ["document"]
    list_filter = ["embedding_model"]
    search_fields = ["text"]
    exclude = ["embedding", "search_vector"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chunk]:
        visible = collections_visible_to(request.user)
        return super().get_queryset(request).filter(collection__in=visible)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        visible = collections_visible_to(request.user)
        return allowed and (obj is None or visible.filter(pk=obj.collection_id).exists())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            field.name
            for field in Chunk._meta.fields
            if field.name not in ("embedding", "search_vector") and field.editable
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
