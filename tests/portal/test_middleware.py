"""portal/middleware.py: no caching of personal pages, request body caps."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from portal.formatting import format_size
from portal.permissions import Role
from portal.services import api_token_create

STATIC_ASSET = "/static/vendor/bootstrap/js/bootstrap.bundle.min.js"


def _no_store(response: Any) -> bool:
    return "no-store" in response.get("Cache-Control", "")


# --------------------------------------------------------------------------- no-store


@pytest.mark.django_db
def test_pages_of_a_signed_in_user_are_never_stored(client: Client, make_user: Any) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    page = client.get(reverse("portal:dashboard"))
    assert page.status_code == 200
    assert _no_store(page) and "private" in page["Cache-Control"]
    # Also a redirect or an error page a signed-in user gets.
    assert _no_store(client.get("/no/such/page/"))


@pytest.mark.django_db
def test_the_login_page_is_never_stored(client: Client) -> None:
    assert _no_store(client.get(reverse("login")))


@pytest.mark.django_db
def test_api_responses_with_a_token_are_never_stored(make_user: Any) -> None:
    _, key = api_token_create(user=make_user("robot", Role.INTEGRATION), name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    assert _no_store(response)


@pytest.mark.django_db
def test_static_files_and_anonymous_answers_keep_their_caching(
    client: Client, make_user: Any
) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    asset = client.get(STATIC_ASSET)
    assert asset.status_code == 200
    assert not _no_store(asset)
    assert not _no_store(Client().get("/healthz"))
    # Nothing personal in a 401: no reason to forbid caching it either way.
    assert not _no_store(Client().get("/api/v1/me/"))


# --------------------------------------------------------------------------- body caps


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_too_large_json_body_is_refused_before_it_is_read(make_user: Any) -> None:
    api = APIClient()
    api.force_authenticate(make_user("agent", Role.AGENT))
    body = json.dumps({"title": "x" * 2000})
    response = api.post("/api/v1/conversations/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is too large: the limit is 1 KB.",
        "extra": {"limit_bytes": 1024},
    }
    # Within the limit, the same endpoint works.
    small = api.post("/api/v1/conversations/", {"title": "x"}, format="json")
    assert small.status_code == 201


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_too_large_form_body_is_refused(client: Client) -> None:
    fields = {"username": "x", "password": "y" * 2000}
    # A URL-encoded body: refused by its Content-Length, unread.
    encoded = client.post(
        reverse("login"), urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    # A multipart body (files allowed) with too large fields: Django's parser stops at the
    # limit and the 400 handler says why, with the same words.
    multipart = client.post(reverse("login"), fields)
    for response in (encoded, multipart):
        assert response.status_code == 413
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode() == "The request body is too large: the limit is 1 KB."


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_too_large_multipart_fields_under_the_api_answer_json(make_user: Any) -> None:
    api = APIClient()
    api.force_authenticate(make_user("content", Role.CONTENT_MANAGER))
    response = api.post("/api/v1/documents/", {"collection": "x", "title": "t" * 2000})
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is too large: the limit is 1 KB.",
        "extra": {"limit_bytes": 1024},
    }


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024, KNOWLEDGE_MAX_UPLOAD_BYTES=4096)
def test_uploads_may_carry_a_file_up_to_the_document_limit(make_user: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = APIClient()
    api.force_authenticate(make_user("content", Role.CONTENT_MANAGER))
    # Over the form limit but within the file limit: reaches the view (400: no collection).
    fits = SimpleUploadedFile("a.txt", b"a" * 3000, content_type="text/plain")
    response = api.post("/api/v1/documents/", {"collection": "none", "file": fits})
    assert response.status_code == 400
    # Over file limit + form limit: refused unread.
    too_big = SimpleUploadedFile("b.txt", b"b" * 6000, content_type="text/plain")
    response = api.post("/api/v1/documents/", {"collection": "none", "file": too_big})
    assert response.status_code == 413
    assert response.json()["message"] == (
        f"The request body is too large: the limit is {format_size(4096 + 1024)}."
    )


def test_default_limits_are_set() -> None:
    from django.conf import settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2 * 1024 * 1024
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == 2 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS == 1000
    assert settings.KNOWLEDGE_MAX_UPLOAD_BYTES == 25 * 1024 * 1024
    assert format_size(settings.KNOWLEDGE_MAX_UPLOAD_BYTES) == "25 MB"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (1, "1 byte"),
        (512, "512 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (2 * 1024 * 1024, "2 MB"),
        (26214400, "25 MB"),
        (31457280 + 524288, "30.5 MB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
