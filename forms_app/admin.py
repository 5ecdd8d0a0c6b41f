"""Admin for form definitions: fields inline, checked by definition_validate; publish and revise."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from forms_app.models import (
    DefinitionStatus,
    FormDefinition,
    FormField,
    FormSubmission,
    SubmissionEvent,
)
from forms_app.permissions import (
    can_manage_definitions,
    definitions_managed_by,
    submissions_in_admin,
)
from forms_app.services import FIELD_ATTRIBUTES, definition_publish, definition_revise
from forms_app.validation import definition_validate
from portal.permissions import STAFF_ROLES
from portal.services import audit_event_record

ROLE_CHOICES = [(role.value, role.value.replace("_", " ").capitalize()) for role in STAFF_ROLES]


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [
            f"{key}: {message}" for key, items in error.message_dict.items() for message in items
        ]
    return list(error.messages)


class FormDefinitionAdminForm(forms.ModelForm[FormDefinition]):
    fill_roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )
    review_roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = FormDefinition
        fields = [
            "slug",
            "title",
            "description",
            "fill_roles",
            "review_roles",
            "customer_reauthentication",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        probe = FormDefinition(
            fill_roles=cleaned.get("fill_roles") or [],
            review_roles=cleaned.get("review_roles") or [],
        )
        try:
            # Definition-level checks here; the fields are checked with the inline below.
            definition_validate(probe, fields=[])
        except ValidationError as error:
            for key, items in error.message_dict.items():
                self.add_error(key if key in self.fields else None, items)
        return cleaned


class FormFieldInlineFormSet(BaseInlineFormSet[FormField, FormDefinition, Any]):
    """Runs definition_validate over the fields as submitted, before anything is saved."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        fields = []
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            field = form.instance
            for name, value in form.cleaned_data.items():
                if name not in ("DELETE", "id", "definition") and hasattr(field, name):
                    setattr(field, name, value)
            fields.append(field)
        try:
            definition_validate(self.instance, fields=fields)
        except ValidationError as error:
            raise ValidationError(_messages(error)) from error


class FormFieldInline(admin.TabularInline[FormField, FormDefinition]):
    model = FormField
    formset = FormFieldInlineFormSet
    extra = 0
    ordering = ["order", "pk"]
    fields = list(FIELD_ATTRIBUTES)


@admin.register(FormDefinition)
class FormDefinitionAdmin(admin.ModelAdmin[FormDefinition]):
    form = FormDefinitionAdminForm
    inlines = [FormFieldInline]
    list_display = ["title", "slug", "version", "status", "fill_roles", "review_roles", "preview"]
    list_filter = ["status"]
    search_fields = ["slug", "title"]
    readonly_fields = ["version", "status", "published_at", "created_at", "updated_at", "preview"]
    actions = ["publish", "create_new_version"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FormDefinition]:
        managed = definitions_managed_by(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=managed)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) and can_manage_definitions(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and can_manage_definitions(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and can_manage_definitions(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj) and can_manage_definitions(
            request.user
        )
        # A published version is frozen: "Create new version" gives an editable draft.
        return allowed and (obj is None or obj.status == DefinitionStatus.DRAFT)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj) and can_manage_definitions(
            request.user
        )
        return allowed and (obj is None or obj.status == DefinitionStatus.DRAFT)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        # The slug ties versions together: fixed once the definition exists.
        return ["slug", *fields] if obj is not None else fields

    @admin.display(description="Preview")
    def preview(self, obj: FormDefinition) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("forms_app:form_preview", kwargs={"slug": obj.slug})
        return format_html('<a href="{}?version={}">Preview v{}</a>', url, obj.version, obj.version)

    def save_model(
        self, request: HttpRequest, obj: FormDefinition, form: Any, change: bool
    ) -> None:
        if not change:
            highest = FormDefinition.objects.filter(slug=obj.slug).order_by("-version").first()
            obj.version = highest.version + 1 if highest else 1
            obj.status = DefinitionStatus.DRAFT
            obj.created_by = request.user  # type: ignore[assignment]
        obj.full_clean()
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        audit_event_record(
            action="form_definition.edited" if change else "form_definition.created",
            actor=request.user,
            target=obj,
            details={
                "slug": obj.slug,
                "version": obj.version,
                "via": "admin",
                "changed": sorted(form.changed_data),
                "customer_reauthentication": obj.customer_reauthentication,
            },
        )

    @admin.action(description="Publish selected drafts")
    def publish(self, request: HttpRequest, queryset: QuerySet[FormDefinition]) -> None:
        for definition in queryset:
            try:
                definition_publish(actor=request.user, definition=definition)
            except ValidationError as error:
                messages.error(request, f"{definition}: {'; '.join(_messages(error))}")
            else:
                messages.success(request, f"Published {definition.slug} v{definition.version}.")

    @admin.action(description="Create new version (draft) of selected")
    def create_new_version(self, request: HttpRequest, queryset: QuerySet[FormDefinition]) -> None:
        for definition in queryset:
            try:
                revision = definition_revise(actor=request.user, definition=definition)
            except ValidationError as error:
                messages.error(request, f"{definition}: {'; '.join(_messages(error))}")
            else:
                messages.success(
                    request, f"Created draft {revision.slug} v{revision.version} to edit."
                )


class SubmissionEventInline(admin.TabularInline[SubmissionEvent, FormSubmission]):
    model = SubmissionEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "actor", "from_status", "to_status", "comment")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FormSubmission)
class FormSubmissionAdmin(admin.ModelAdmin[FormSubmission]):
    """Read-only: submissions change only through the workflow services. The values are
    shown on the portal's submission page, masked per the viewer's field visibility. Rows:
    ``submissions_in_admin`` (what the portal shows the user; administrators: their regions)."""

    list_display = [
        "id",
        "definition",
        "customer",
        "status",
        "submitted_by",
        "reviewer",
        "updated_at",
    ]
    list_filter = ["status", "definition__slug"]
    search_fields = ["customer__customer_number", "submitted_by__username"]
    fields = readonly_fields = (
        "definition", "customer", "account", "transaction", "status", "submitted_by",
        "reviewer", "decision_comment", "provenance", "created_at", "submitted_at", "decided_at",
    )  # fmt: skip
    inlines = [SubmissionEventInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FormSubmission]:
        shown = submissions_in_admin(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=shown)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        shown = submissions_in_admin(request.user)
        return allowed and (obj is None or shown.filter(pk=obj.pk).exists())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
