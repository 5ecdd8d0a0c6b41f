"""Forms of the portal's own pages, and how views show a service's errors on a form."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError


def add_form_error(form: forms.Form, error: ValidationError | PermissionDenied) -> None:
    """Attach a service error to the form: to its field when the form has one."""
    if isinstance(error, PermissionDenied):
        form.add_error(None, str(error) or "You may not do this.")
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def error_text(error: ValidationError) -> str:
    """A service's validation error as one sentence for a person."""
    if hasattr(error, "error_dict"):
        return " ".join(m for messages_ in error.message_dict.values() for m in messages_)
    return " ".join(error.messages)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="User name")
    action = forms.CharField(
        required=False, max_length=64, help_text="Prefix, e.g. auth. or auth.login_failed"
    )
    target_type = forms.CharField(required=False, max_length=64)
    target_id = forms.CharField(required=False, max_length=64)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        return data
