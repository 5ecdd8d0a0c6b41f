"""Everything under /api/ answers in the API's error shape, Django's own 404 and 500 too."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from portal.permissions import Role


def _api(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.mark.django_db
def test_unknown_api_url_is_a_json_404(make_user: Any) -> None:
    for client in (_api(make_user("agent", Role.AGENT)), APIClient()):
        response = client.get("/api/v1/no-such-endpoint/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"message": "Not found.", "extra": {}}
    assert Client().get("/api/nothing-here").json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_pages_keep_their_html_404(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.portal.urls_ops")
def test_a_failure_under_the_api_is_a_json_500(make_user: Any) -> None:
    api = _api(make_user("agent", Role.AGENT))
    api.raise_request_exception = False
    response = api.get("/api/v1/test-boom/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Server error.", "extra": {}}
    assert "secret internals" not in response.content.decode()

    page = Client(raise_request_exception=False).get("/test-boom/")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
