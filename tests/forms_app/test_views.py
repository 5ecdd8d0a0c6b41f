"""Form pages: sign-in, listing and filling, server-side validation, fill roles, previews."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from forms_app.models import FormDefinition
from portal.permissions import Role

pytestmark = pytest.mark.django_db


def test_pages_require_login(client: Client, seeded: None) -> None:
    for path in ("/forms/", "/forms/card-dispute/", "/forms/card-dispute/preview/"):
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_list_and_fill(client: Client, make_user: Any, seeded: None) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    body = client.get("/forms/").content.decode()
    assert "Card transaction dispute" in body and "Account closure" in body
    response = client.get("/forms/card-dispute/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-show-when-field="reason"' in body
    assert "js/forms.js" in body
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert client.get("/forms/no-such-form/").status_code == 404


def test_post_validates_server_side_without_storing(
    client: Client, make_user: Any, seeded: None
) -> None:
    from forms_app.models import FormSubmission

    client.force_login(make_user("agent", Role.AGENT))
    response = client.post("/forms/card-dispute/", {"reason": "other"})
    body = response.content.decode()
    assert response.status_code == 200
    # A submission is always about a customer: without one nothing is stored.
    assert "Pick a customer first" in body
    assert response.context["form"].errors["other_reason"] == ["This field is required."]

    closure = {
        "customer_name": "Ann Lee",
        "customer_number": "C-1",
        "account_number": "NL00BANK0123456789",
        "reason": "fees",
        "balance_handling": "cheque",
        "transfer_iban": "not an iban, but hidden",
        "action": "submit",
    }
    response = client.post("/forms/account-closure/", closure)
    assert response.status_code == 200
    assert "transfer_iban" not in response.context["form"].cleaned_data
    assert not FormSubmission.objects.exists()


def test_filling_is_limited_by_fill_roles(client: Client, make_user: Any, seeded: None) -> None:
    FormDefinition.objects.filter(slug="account-closure").update(fill_roles=["supervisor"])
    client.force_login(make_user("agent", Role.AGENT))
    assert client.get("/forms/account-closure/").status_code == 404
    assert "Account closure" not in client.get("/forms/").content.decode()


def test_content_manager_previews_but_does_not_fill(
    client: Client, make_user: Any, seeded: None
) -> None:
    client.force_login(make_user("content", Role.CONTENT_MANAGER))
    assert client.get("/forms/").status_code == 403
    assert client.get("/forms/card-dispute/").status_code == 403
    response = client.get("/forms/card-dispute/preview/?version=1")
    assert response.status_code == 200
    assert "Preview" in response.content.decode()
    assert client.get("/forms/card-dispute/preview/?version=9").status_code == 404


def test_agent_gets_no_preview(client: Client, make_user: Any, seeded: None) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    assert client.get("/forms/card-dispute/preview/").status_code == 404


XSS = "<img src=x onerror=alert(1)>"


def test_help_text_is_plain_text_escaped_in_every_page(
    client: Client, make_user: Any, make_definition: Any
) -> None:
    make_definition(
        [{"key": "note", "label": "Note", "type": "text", "help_text": f"Say why {XSS}"}],
        slug="xss-help",
        publish=True,
    )
    client.force_login(make_user("agent", Role.AGENT))
    body = client.get("/forms/xss-help/").content.decode()
    assert XSS not in body
    assert "Say why &lt;img src=x onerror=alert(1)&gt;" in body
    client.force_login(make_user("content", Role.CONTENT_MANAGER))
    preview = client.get("/forms/xss-help/preview/").content.decode()
    assert XSS not in preview and "&lt;img src=x onerror=alert(1)&gt;" in preview


@pytest.mark.parametrize("value", ["²", "١٢", "9" * 5000])
def test_ids_in_unicode_digits_are_ignored(
    client: Client, make_user: Any, seeded: None, value: str
) -> None:
    """Pen test: ``"²".isdigit()`` is True and ``int("²")`` fails: it answered 500."""
    client.force_login(make_user("agent", Role.AGENT))
    for name in ("customer", "account", "transaction"):
        assert client.get("/forms/card-dispute/", {name: value}).status_code == 200
    client.force_login(make_user("content", Role.CONTENT_MANAGER))
    # An unreadable version is no version: the current one is previewed.
    assert client.get("/forms/card-dispute/preview/", {"version": value}).status_code == 200
