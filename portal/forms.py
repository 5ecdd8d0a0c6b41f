from __future__ import annotations

from django import forms


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
