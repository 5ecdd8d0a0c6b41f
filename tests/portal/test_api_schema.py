"""The errors every operation of the OpenAPI schema documents (portal/api/schema.py), and
that they are what the API answers. Found by the API fuzzer (test_api_fuzz.py): /me/ had
no 401, paginated lists no 404 for a page that does not exist, and no error had a body."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.permissions import Role

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client: Client, make_user: Any) -> dict[str, Any]:
    client.force_login(make_user("agent", Role.AGENT))
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return dict(response.json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if method in METHODS
    ]


def test_every_operation_documents_the_common_errors_with_their_body(
    schema: dict[str, Any],
) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["message", "extra"]
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        wanted = {"400", "401", "403", "429"}
        if any(p["name"] == "page" for p in operation.get("parameters", [])):
            wanted.add("404")
        if "requestBody" in operation:
            wanted.add("413")
        assert wanted <= set(responses), f"{method} {path}: {sorted(responses)}"
        for code, response in responses.items():
            if code.startswith("4"):
                assert response["content"]["application/json"]["schema"] == error, (method, path)
                assert response["description"], (method, path, code)


def test_a_view_keeps_its_own_description_of_an_error(schema: dict[str, Any]) -> None:
    customer = schema["paths"]["/api/v1/customers/{id}/"]["get"]["responses"]
    assert customer["404"]["description"] == "No such customer, or not visible to you"


def test_the_documented_errors_are_what_the_api_answers(make_user: Any) -> None:
    anonymous = APIClient()
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}

    client = APIClient()
    client.force_authenticate(make_user("agent", Role.AGENT))
    response = client.get("/api/v1/conversations/?page=9")
    assert response.status_code == 404
    assert response.json() == {"message": "Invalid page.", "extra": {}}
    response = client.get("/api/v1/me/?q=%00")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
