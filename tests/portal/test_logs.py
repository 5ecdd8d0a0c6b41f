"""portal/logs.py: every record of a request carries its id, user and route; JSON or text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from pythonjsonlogger.json import JsonFormatter
from rest_framework.test import APIClient

from portal.logs import RequestContextFilter, logging_config
from portal.permissions import Role
from portal.services import api_token_create


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The production handler (its filter and JSON formatter) on the root logger."""
    formatter_config = dict(logging_config(fmt="json", level="INFO")["formatters"]["json"])
    formatter_config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter(**formatter_config))
    root = logging.getLogger()
    level = root.level  # a test Celery worker may have set it to ERROR
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.portal.urls_ops")
def test_a_record_in_a_view_has_request_user_and_route(
    client: Client, make_user: Any, json_log: io.StringIO
) -> None:
    user = make_user("agent", Role.AGENT)
    client.force_login(user)
    response = client.get("/test-log/")
    [record] = [r for r in _records(json_log) if r["logger"] == "tests.ops"]
    assert record["message"] == "inside the view"
    assert record["level"] == "WARNING"
    assert record["time"]
    assert record["request_id"] == response["X-Request-ID"]
    assert record["user_id"] == user.pk
    assert record["route"] == "test_log"


@pytest.mark.django_db
def test_records_after_the_view_and_of_token_users_too(
    make_user: Any, json_log: io.StringIO
) -> None:
    user = make_user("robot", Role.INTEGRATION)
    _, key = api_token_create(user=user, name="t")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get("/api/v1/documents/999999/")
    assert response.status_code == 404
    # Django logs "Not Found: ..." once the whole middleware chain has returned.
    [record] = [r for r in _records(json_log) if r["logger"] == "django.request"]
    assert record["message"].startswith("Not Found: /api/v1/documents/999999/")
    assert record["request_id"] == response["X-Request-ID"]
    assert record["user_id"] == user.pk
    assert record["route"] == "api:document_detail"


def test_records_outside_a_request_have_empty_context(json_log: io.StringIO) -> None:
    logging.getLogger("tests.ops").warning("no request here")
    [record] = _records(json_log)
    assert record["request_id"] is None
    assert record["user_id"] is None
    assert record["route"] is None


@pytest.mark.django_db
def test_context_ends_with_the_response(
    client: Client, make_user: Any, json_log: io.StringIO
) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    client.get("/")
    logging.getLogger("tests.ops").warning("after the request")
    assert _records(json_log)[-1]["request_id"] is None


def test_text_in_development_json_in_production() -> None:
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "text"
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_context"]
    text = logging_config(fmt="text", level="INFO")["formatters"]["text"]["format"]
    assert "%(request_id)s" in text and "%(user_id)s" in text and "%(route)s" in text
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(fmt="xml", level="INFO")
