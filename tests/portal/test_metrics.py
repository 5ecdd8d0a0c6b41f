"""/metrics (portal/metrics.py): the metrics operators alert on, and who may read them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from portal.metrics import answer_observe
from portal.permissions import Role


def _metrics(client: Client | None = None, **extra: Any) -> str:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _scraped(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels`` in scraped ``text``."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


# --------------------------------------------------------------------------- access


@pytest.mark.django_db
@override_settings(METRICS_ALLOWED_IPS=[], METRICS_TOKEN="")
def test_metrics_are_never_public_by_default() -> None:
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
@override_settings(METRICS_ALLOWED_IPS=["10.9.0.0/16"], METRICS_TOKEN="scrape-secret-1")
def test_metrics_need_the_token_or_an_allowed_address() -> None:
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 404
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION="Bearer wrong"
        ).status_code
        == 404
    )
    _metrics(client, REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION="Bearer scrape-secret-1")
    _metrics(client, REMOTE_ADDR="10.9.3.4")


@pytest.mark.django_db
def test_metrics_are_not_signed_in_pages(client: Client, make_user: Any) -> None:
    # No session, no redirect to the login page; the test client's 127.0.0.1 is allowed
    # by the local settings.
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "Set-Cookie" not in response


# --------------------------------------------------------------------------- what is measured


@pytest.mark.django_db
def test_request_latency_by_route_name(client: Client, make_user: Any) -> None:
    client.force_login(make_user("agent", Role.AGENT))
    client.get("/")
    client.get("/knowledge/search/", {"q": "x"})
    text = _metrics()
    assert _scraped(
        text,
        "django_http_requests_latency_seconds_by_view_method_count",
        view="portal:dashboard",
        method="GET",
    )
    # The URL name, never the raw path (which would carry ids and queries).
    assert 'view="knowledge:search"' in text
    assert 'view="/' not in text
    assert "django_http_responses_total_by_status_view_method_total{" in text


@pytest.mark.django_db
def test_queue_length_and_documents_by_status(make_user: Any) -> None:
    from knowledge.services import collection_create, document_create

    collection = collection_create(actor=None, slug="ops", name="Ops")
    before = _scraped(_metrics(), "portal_knowledge_documents", status="failed")
    assert before is not None
    # A refused upload ends "failed" at once.
    document_create(
        actor=None,
        collection=collection,
        title="Program",
        file=SimpleUploadedFile("tool.exe", b"MZ\x90\x00" + b"\x00" * 64),
        enqueue=False,
    )
    text = _metrics()
    assert _scraped(text, "portal_knowledge_documents", status="failed") == before + 1
    assert _scraped(text, "portal_celery_broker_up") == 1
    assert _scraped(text, "portal_celery_queue_length", queue="celery") is not None


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_broker_is_a_metric_not_an_error() -> None:
    text = _metrics()
    assert _scraped(text, "portal_celery_broker_up") == 0
    assert "portal_celery_queue_length{" not in text


@pytest.mark.django_db
def test_audit_events_are_counted_by_action(
    client: Client, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_user("ivy", Role.AGENT)
    before = _value("portal_audit_events_total", action="auth.login_failed")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/login/", {"username": "ivy", "password": "nope"})
    assert _value("portal_audit_events_total", action="auth.login_failed") == before + 1


@pytest.mark.django_db
def test_answer_latency_and_model_errors(
    settings: Any, make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from assistant.answering import answer
    from assistant.services import conversation_create
    from tests.support.openai_server import fake_openai_as_portal_model

    agent = make_user("agent", Role.AGENT)
    ok_before = _value("portal_assistant_answer_latency_seconds_count", outcome="ok")
    error_before = _value("portal_assistant_answer_latency_seconds_count", outcome="error")
    errors_before = _value("portal_assistant_model_errors_total")
    with fake_openai_as_portal_model(settings) as fake:
        with django_capture_on_commit_callbacks(execute=True):
            answered = answer(user=agent, conversation=conversation_create(owner=agent), text="hi")
        fake.fail_next = 5
        with django_capture_on_commit_callbacks(execute=True):
            failed = answer(user=agent, conversation=conversation_create(owner=agent), text="hi")
    assert not answered.error and failed.error
    assert _value("portal_assistant_answer_latency_seconds_count", outcome="ok") == ok_before + 1
    assert (
        _value("portal_assistant_answer_latency_seconds_count", outcome="error") == error_before + 1
    )
    assert _value("portal_assistant_model_errors_total") == errors_before + 1


def test_answer_observe_uses_seconds() -> None:
    before = _value("portal_assistant_answer_latency_seconds_sum", outcome="ok")
    answer_observe(latency_ms=1500, error="")
    assert _value("portal_assistant_answer_latency_seconds_sum", outcome="ok") == pytest.approx(
        before + 1.5
    )


@pytest.mark.django_db(transaction=True)
def test_celery_task_durations(celery_worker_thread: Any) -> None:
    from portal.tasks import housekeeping_task

    labels = {"task": "portal.tasks.housekeeping_task", "state": "SUCCESS"}
    before = _value("portal_celery_task_duration_seconds_count", **labels)
    assert housekeeping_task.delay().get(timeout=30) == {"status": "ok"}
    # task_postrun comes just after the result is stored.
    deadline = time.monotonic() + 10
    while _value("portal_celery_task_duration_seconds_count", **labels) == before:
        assert time.monotonic() < deadline, "no duration observed"
        time.sleep(0.05)
    assert _value("portal_celery_task_duration_seconds_count", **labels) == before + 1
