"""Prometheus metrics: the shared metric objects, the scrape-time gauges, ``/metrics``.

Apps observe through the functions here (``answer_observe``); none imports another app's
metrics. HTTP metrics come from django-prometheus' middleware
(``django_http_requests_latency_seconds_by_view_method`` by URL name, and friends).
Gauges that are read when scraped (the Celery queue length, and what apps register with
``portal.registry.register_metrics_gauge``) live in a registry of their own, so they are
exported the same way whether or not the process counts in multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, docs/operations.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from portal import registry

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600)

CELERY_TASK_DURATION = Histogram(
    "portal_celery_task_duration_seconds",
    "Time Celery tasks ran, by task and final state (SUCCESS, FAILURE, RETRY).",
    ["task", "state"],
    buckets=LATENCY_BUCKETS,
)
AUDIT_EVENTS = Counter(
    "portal_audit_events",
    "Audit events recorded, by action (auth.login_failed, auth.locked_out, document.failed, "
    "permission.denied, ...).",
    ["action"],
)
ANSWER_LATENCY = Histogram(
    "portal_assistant_answer_latency_seconds",
    "Time to a stored assistant answer (retrieval, model, tools), by outcome (ok, error).",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
MODEL_ERRORS = Counter(
    "portal_assistant_model_errors",
    "Assistant answers stored with an error (the model failed or timed out).",
)


def answer_observe(*, latency_ms: float | None, error: str) -> None:
    """One stored assistant answer (``Message.latency_ms``, ``Message.error``)."""
    outcome = "error" if error else "ok"
    ANSWER_LATENCY.labels(outcome=outcome).observe(max(latency_ms or 0, 0) / 1000)
    if error:
        MODEL_ERRORS.inc()


def audit_event_observe(action: str) -> None:
    AUDIT_EVENTS.labels(action=action).inc()


def celery_task_observe(*, task: str, state: str, seconds: float) -> None:
    CELERY_TASK_DURATION.labels(task=task, state=state).observe(seconds)


# --------------------------------------------------------------------------- scrape time

# Kombu's Redis transport keeps a queue as a list, plus one list per priority step.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@cache
def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def broker_client() -> Any:
    """A Redis client for the Celery broker, or None when the broker is not Redis."""
    url: str = settings.CELERY_BROKER_URL or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return _redis_client(url)


class ScrapeTimeCollector(Collector):
    """The Celery queue lengths and the apps' gauges, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        for gauge in registry.metrics_gauges():
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            try:
                values = gauge.values()
            except Exception:
                logger.warning("Metrics gauge %s failed", gauge.name, exc_info=True)
                continue
            for labels, value in sorted(values.items()):
                family.add_metric(list(labels), value)
            yield family

    def _queues(self) -> Iterable[Metric]:
        client = broker_client()
        if client is None:
            return []
        up = GaugeMetricFamily("portal_celery_broker_up", "1 when the broker answered.")
        length = GaugeMetricFamily(
            "portal_celery_queue_length", "Tasks waiting in a Celery queue.", labels=["queue"]
        )
        try:
            for queue in settings.METRICS_CELERY_QUEUES:
                pipe = client.pipeline()
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
                length.add_metric([queue], float(sum(pipe.execute())))
        except Exception:
            logger.warning("Could not read the Celery queue lengths", exc_info=True)
            up.add_metric([], 0.0)
            return [up]
        up.add_metric([], 1.0)
        return [up, length]


def exposition() -> bytes:
    """The text format of every metric of this process (or of all processes writing to
    ``PROMETHEUS_MULTIPROC_DIR``), then the scrape-time gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = prometheus_client.REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeTimeCollector())
    return prometheus_client.generate_latest(counted) + prometheus_client.generate_latest(scraped)


# --------------------------------------------------------------------------- access


def metrics_access_allowed(request: HttpRequest) -> bool:
    """``Authorization: Bearer <METRICS_TOKEN>``, or a client address in
    ``METRICS_ALLOWED_IPS`` (addresses or networks). Neither set: nobody."""
    token: str = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(entry, strict=False) for entry in settings.METRICS_ALLOWED_IPS
    )


def metrics_response(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        # Like any unknown URL: the endpoint is not advertised to whoever may not read it.
        return HttpResponse("Not Found", status=404, content_type="text/plain; charset=utf-8")
    return HttpResponse(exposition(), content_type=prometheus_client.CONTENT_TYPE_LATEST)
