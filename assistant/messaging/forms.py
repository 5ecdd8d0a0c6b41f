"""Forms of the secure message center (the services validate again: these shape the pages)."""

from __future__ import annotations

from django import forms
from django.conf import settings

from assistant.messaging.models import Category


class SecureLoginForm(forms.Form):
    username = forms.CharField(label="User name", max_length=150)
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from the e-mail",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
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


class ReplyForm(forms.Form):
    body = _body("Your message")


class StaffReplyForm(forms.Form):
    body = _body("Reply to the customer")
    draft = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The form proposed by the draft: sent with the reply when ``include_form`` is ticked.
    include_form = forms.BooleanField(required=False)
    form = forms.SlugField(required=False, max_length=64)
    form_transaction = forms.IntegerField(required=False, min_value=1)
    # The newest message on the page when the reply was written (later ones stay unanswered).
    seen = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class NoteForm(forms.Form):
    body = _body("Internal note (never shown to the customer)")
