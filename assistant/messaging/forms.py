"""Forms of the secure message center (the services validate again: these shape the pages)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from assistant.messaging.models import Category
from portal.formatting import format_size


class SecureLoginForm(forms.Form):
    username = forms.CharField(label="User name", max_length=150)
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from the e-mail",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class AuthenticatorForm(forms.Form):
    code = forms.CharField(
        label="Code shown by the app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class InvitationForm(forms.Form):
    password = forms.CharField(
        label="Choose a password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )
    password_again = forms.CharField(
        label="The same password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); the services check them."""

    def __init__(self, **kwargs: Any) -> None:
        accept = ".pdf,.png,.jpg,.jpeg,.txt,application/pdf,image/png,image/jpeg,text/plain"
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": accept}))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _attachments() -> MultipleFileField:
    return MultipleFileField(
        label="Attach files (optional)",
        help_text=(
            f"PDF, PNG, JPEG or text; up to {settings.SECURE_ATTACHMENTS_PER_MESSAGE} files, "
            f"{format_size(settings.SECURE_ATTACHMENTS_MAX_BYTES)} together."
        ),
    )


def _body(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=settings.SECURE_MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
    )


class ThreadStartForm(forms.Form):
    category = forms.ChoiceField(label="What is it about?", choices=Category.choices)
    subject = forms.CharField(label="Subject", max_length=200)
    body = _body("Your message")
    attachments = _attachments()


class ReplyForm(forms.Form):
    body = _body("Your message")
    attachments = _attachments()


class StaffReplyForm(forms.Form):
    body = _body("Reply to the customer")
    attachments = _attachments()
    draft = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The form proposed by the draft: sent with the reply when ``include_form`` is ticked.
    include_form = forms.BooleanField(required=False)
    form = forms.SlugField(required=False, max_length=64)
    form_transaction = forms.IntegerField(required=False, min_value=1)
    # The newest message on the page when the reply was written (later ones stay unanswered).
    seen = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class AutoReplyReviewForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=[("fine", "Fine"), ("concern", "Concern")], widget=forms.RadioSelect
    )
    note = forms.CharField(
        required=False, max_length=settings.SECURE_MESSAGE_MAX_CHARS, widget=forms.Textarea
    )


class NoteForm(forms.Form):
    body = _body("Internal note (never shown to the customer)")
