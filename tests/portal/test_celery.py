"""Celery against the real broker and a real worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.celery import app
from portal.tasks import housekeeping_task


def test_celery_is_configured_from_settings() -> None:
    conf = app.conf
    assert conf.broker_url == settings.CELERY_BROKER_URL
    assert conf.broker_url.startswith("redis://")
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.task_time_limit
    assert conf.task_soft_time_limit < conf.task_time_limit


@pytest.mark.django_db(transaction=True)
def test_housekeeping_runs_on_a_real_worker(celery_worker_thread: Any) -> None:
    expired = SessionStore()
    expired["x"] = 1
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    live = SessionStore()
    live.create()
    result = housekeeping_task.delay()
    assert result.get(timeout=30) == {"status": "ok"}
    assert not Session.objects.filter(session_key=expired.session_key).exists()
    assert Session.objects.filter(session_key=live.session_key).exists()
