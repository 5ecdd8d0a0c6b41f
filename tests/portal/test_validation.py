"""Invalid text at every input: the shared validator, the API's JSON parser, the middleware
in front of the pages, and ids as clients send them.

Pen test findings: a lone surrogate in a JSON body was stored and broke every later read; a
100,000-deep JSON body answered 500 (RecursionError); NUL bytes answered 500 on eight portal
inputs (PostgreSQL text cannot hold them); ``?collection=²`` answered 500 (``"²".isdigit()``
is True and ``int("²")`` fails).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from forms_app.demo import seed_forms
from forms_app.models import FormSubmission
from knowledge.demo import seed_collections
from knowledge.models import Document
from portal.models import AuditEvent
from portal.permissions import Role
from portal.validation import (
    MAX_JSON_DEPTH,
    InvalidText,
    check_data,
    check_text,
    parse_id,
    scrub_data,
    text_problem,
)

# --------------------------------------------------------------------------- the validator


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("plain", None),
        ("café 😀 \u2028 tab\t", None),  # astral characters, separators and tabs are text
        ("a\x00b", "contains a NUL character (\\u0000)"),
        ("a\ud800", "contains invalid Unicode (a lone surrogate, e.g. \\ud800)"),
        ("\udfff", "contains invalid Unicode (a lone surrogate, e.g. \\ud800)"),
    ],
)
def test_text_problem(value: str, problem: str | None) -> None:
    assert text_problem(value) == problem


def test_check_text_names_the_place() -> None:
    with pytest.raises(InvalidText, match=r"^The title contains a NUL character"):
        check_text("x\x00", "The title")


def test_check_data_walks_keys_values_and_lists() -> None:
    check_data({"a": [1, 2.5, None, True, {"b": "ok 😀"}]})
    with pytest.raises(InvalidText, match=r"The value at “a\[1\]\.b” contains invalid Unicode"):
        check_data({"a": [0, {"b": "\ud800"}]})
    with pytest.raises(InvalidText, match=r"The key “a\.\\udfff” contains invalid Unicode"):
        check_data({"a": {"\udfff": 1}})
    with pytest.raises(InvalidText, match=r"NUL"):
        check_data(["\x00"])


def test_check_data_depth_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):  # far beyond Python's recursion limit
        deep = [deep]
    with pytest.raises(InvalidText, match=f"nested more than {MAX_JSON_DEPTH} levels"):
        check_data(deep)
    shallow: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        shallow = {"k": shallow}
    check_data(shallow)
    with pytest.raises(InvalidText, match="nested"):
        check_data([shallow])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        (12, 12),
        ("²", None),  # isdigit() says yes, int() refuses
        ("١٢", None),  # Arabic-Indic digits: int() would read 12
        ("-1", None),
        ("1.0", None),
        ("", None),
        ("9" * 18, 10**18 - 1),
        ("9" * 19, None),
        ("9" * 5000, None),  # int() raises past 4,300 digits
        (True, None),
        (-3, None),
        (None, None),
    ],
)
def test_parse_id(value: object, expected: int | None) -> None:
    assert parse_id(value) == expected


def test_scrub_data_replaces_lone_surrogates_only() -> None:
    assert scrub_data({"a\ud800": ["x\udfffy", 1, "😀"]}) == {"a\ufffd": ["x\ufffdy", 1, "😀"]}


# --------------------------------------------------------------------------- the API's parser


@pytest.fixture
def content_api(make_user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("content", Role.CONTENT_MANAGER))
    return client


def _post_json(client: APIClient, path: str, raw: str) -> Any:
    return client.post(path, raw, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"slug": "x", "name": "A\ud800"},
            "JSON parse error - The value at “name” contains invalid Unicode (a lone surrogate, "
            "e.g. \\ud800).",
        ),
        (
            {"slug": "x", "name": "A\x00"},
            "JSON parse error - The value at “name” contains a NUL character (\\u0000).",
        ),
        (
            {"slug": "x", "\ud800": "A"},
            "JSON parse error - The key “\\ud800” contains invalid Unicode (a lone surrogate, "
            "e.g. \\ud800).",
        ),
    ],
)
def test_api_json_with_invalid_text_is_400(
    content_api: APIClient, body: dict[str, str], message: str
) -> None:
    response = _post_json(content_api, "/api/v1/collections/", json.dumps(body))
    assert response.status_code == 400
    assert response.json() == {"message": message, "extra": {}}
    assert not AuditEvent.objects.filter(action="collection.created").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2_000, 100_000])
def test_api_deeply_nested_json_is_400(content_api: APIClient, depth: int) -> None:
    response = _post_json(content_api, "/api/v1/collections/", "[" * depth + "]" * depth)
    assert response.status_code == 400
    assert response.json() == {
        "message": f"JSON parse error - The JSON is nested more than {MAX_JSON_DEPTH} levels deep.",
        "extra": {},
    }


@pytest.mark.django_db
def test_api_valid_json_still_reaches_the_view(content_api: APIClient) -> None:
    body = {"slug": "emoji", "name": "Fees 😀", "manage_roles": ["content_manager"]}
    response = _post_json(content_api, "/api/v1/collections/", json.dumps(body))
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "Fees 😀"


# --------------------------------------------------------------------------- the middleware


@pytest.mark.django_db
def test_nul_in_the_search_query_is_400_and_not_searched(client: Client, make_user: Any) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    response = client.get("/knowledge/search/", {"q": "fee\x00"})
    assert response.status_code == 400
    assert response.content.decode() == (
        "The query parameter “q” contains a NUL character (\\u0000)."
    )
    assert not AuditEvent.objects.filter(action="knowledge.search").exists()
    api = APIClient()
    api.force_login(make_user("agent2", Role.AGENT))
    answer = api.get("/api/v1/search/", {"q": "fee", "mode\x00": "dense"})
    assert answer.status_code == 400
    assert answer.json() == {
        "message": "The name of a query parameter contains a NUL character (\\u0000).",
        "extra": {},
    }


@pytest.mark.django_db
def test_nul_in_an_upload_title_is_400_and_nothing_stored(client: Client, make_user: Any) -> None:
    collection = seed_collections()["products-fees"]
    client.force_login(make_user("content", Role.CONTENT_MANAGER))

    def upload(title: str, name: str, content: bytes = b"# Fees\n\nFree.") -> Any:
        file = SimpleUploadedFile(name, content, content_type="text/markdown")
        return client.post(
            "/knowledge/documents/upload/",
            {"collection": collection.pk, "title": title, "file": file},
        )

    response = upload("Fees\x00", "fees.md")
    assert response.status_code == 400
    assert response.content.decode() == (
        "The form field “title” contains a NUL character (\\u0000)."
    )
    assert not Document.objects.exists()
    # File contents are not text: NUL bytes in them are the parsers' business.
    response = upload("Binary", "notes.txt", b"MZ\x00\x00\x90")
    assert response.status_code == 302
    assert "binary data" in Document.objects.get(title="Binary").error


@pytest.mark.django_db
def test_nul_in_a_form_fill_is_400_and_nothing_stored(client: Client, make_user: Any) -> None:
    seed_forms()
    client.force_login(make_user("agent", Role.AGENT))
    response = client.post("/forms/card-dispute/", {"reason": "other", "other_reason": "x\x00"})
    assert response.status_code == 400
    assert not FormSubmission.objects.exists()


@pytest.mark.django_db
def test_nul_in_a_login_name_is_400_and_not_recorded(client: Client, make_user: Any) -> None:
    make_user("bob", Role.AGENT, password="correct horse battery staple")
    response = client.post(
        "/accounts/login/", {"username": "bob\x00", "password": "correct horse battery staple"}
    )
    assert response.status_code == 400
    assert not AccessAttempt.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="auth.").exists()


@pytest.mark.django_db
def test_nul_in_the_path_is_400(client: Client) -> None:
    assert client.get("/knowledge/documents/\x00/").status_code == 400


@pytest.mark.django_db
def test_nul_in_customer_searches_is_400_not_500(
    client: Client, make_user: Any, regions: dict[str, Any]
) -> None:
    """These two answered 500: the query went to PostgreSQL with its NUL."""
    seed_forms()
    client.force_login(make_user("agent", Role.AGENT, regions=[regions["north"]]))
    assert client.get("/customers/", {"q": "Lee\x00"}).status_code == 400
    assert client.get("/forms/card-dispute/", {"customer_q": "Lee\x00"}).status_code == 400
    assert client.get("/customers/", {"q": "Lee"}).status_code == 200
