"""Forms of the knowledge pages; every choice list starts from what the user may see."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from knowledge.models import Collection, DocumentStatus
from knowledge.permissions import collections_managed_by, collections_visible_to
from knowledge.selectors import MAX_QUERY_LENGTH, SearchMode
from knowledge.services import MAX_REASON_LENGTH
from portal.types import AnyUser

_DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SearchForm(forms.Form):
    q = forms.CharField(label="Search for", max_length=MAX_QUERY_LENGTH, strip=True)
    collection = forms.ChoiceField(label="Collection", required=False)
    mode = forms.ChoiceField(
        label="Mode",
        help_text="Hybrid combines meaning and keywords.",
        choices=[
            (SearchMode.HYBRID.value, "Hybrid"),
            (SearchMode.DENSE.value, "Meaning"),
            (SearchMode.KEYWORD.value, "Keywords"),
        ],
        required=False,
        initial=SearchMode.HYBRID.value,
    )
    k = forms.IntegerField(
        label="Results",
        min_value=1,
        max_value=settings.KNOWLEDGE_SEARCH_MAX_K,
        required=False,
        initial=10,
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        visible = collections_visible_to(user).order_by("name").values_list("slug", "name")
        choices = [("", "All collections"), *visible]
        self.fields["collection"].choices = choices  # type: ignore[attr-defined]

    def clean_mode(self) -> str:
        return self.cleaned_data.get("mode") or SearchMode.HYBRID.value

    def clean_k(self) -> int:
        k: int | None = self.cleaned_data.get("k")
        return 10 if k is None else k


class DocumentUploadForm(forms.Form):
    collection = forms.ModelChoiceField(queryset=Collection.objects.none(), empty_label=None)
    title = forms.CharField(max_length=300)
    file = forms.FileField(
        required=False, help_text="PDF, Word (.docx), HTML, Markdown or plain text."
    )
    source_url = forms.URLField(
        label="Source URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="Where the document comes from. Without a file, it is fetched from here "
        "(allowed hosts only) and fetched again on every reprocess.",
    )
    effective_date = forms.DateField(required=False, widget=_DATE_WIDGET)

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        field = self.fields["collection"]
        field.queryset = collections_managed_by(user).order_by("name")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("file") and not data.get("source_url") and "source_url" not in self.errors:
            self.add_error("file", "Choose a file to upload or give a source URL.")
        return data


class DocumentReplaceForm(forms.Form):
    file = forms.FileField(
        label="New file", help_text="Search keeps answering from the current version meanwhile."
    )
    effective_date = forms.DateField(required=False, widget=_DATE_WIDGET)

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user


class DocumentReasonForm(forms.Form):
    """Archive or delete a document: why, for the audit trail (and the archived page)."""

    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=MAX_REASON_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; recorded in the audit trail.",
    )


class DocumentFilterForm(forms.Form):
    collection = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *DocumentStatus.choices]
    )
    # Offered to those who manage a collection: only they see archived documents.
    archived = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[("", "Current documents"), ("true", "Archived documents")],
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        visible = collections_visible_to(user).order_by("name").values_list("slug", "name")
        choices = [("", "All collections"), *visible]
        self.fields["collection"].choices = choices  # type: ignore[attr-defined]
        if not collections_managed_by(user).exists():
            del self.fields["archived"]
