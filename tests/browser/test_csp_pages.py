"""The API docs and the admin work under the strict Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser test password 2"


def _sign_in(page: Any, base: str, username: str) -> None:
    sign_in(page, base, username, PASSWORD)


def _csp_errors(page: Any) -> list[str]:
    return [e for e in page.console_errors if "Content Security Policy" in e]


@override_settings(DEMO_PASSWORD=PASSWORD)
def test_swagger_ui_renders_under_csp(live_server: Any, page: Any) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    _sign_in(page, live_server.url, "agent")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("text=/api/v1/me/", timeout=15000)
    assert not _csp_errors(page), page.console_errors


@override_settings(DEMO_PASSWORD=PASSWORD)
def test_admin_renders_under_csp(live_server: Any, page: Any) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    _sign_in(page, live_server.url, "admin")
    admin_pk = get_user_model().objects.get(username="admin").pk
    page.goto(f"{live_server.url}/admin/auth/user/{admin_pk}/change/")
    page.wait_for_selector("#user_form")
    assert page.locator("select#id_profile-0-regions_from, select#id_profile-0-regions").count()
    assert not _csp_errors(page), page.console_errors
