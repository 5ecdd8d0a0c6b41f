"""``/healthz``, ``/readyz`` and ``/metrics``, answered before the rest of the stack.

``ProbeMiddleware`` sits near the top of ``MIDDLEWARE``: probes and scrapes are answered
before host validation (a probe addresses the pod's IP), the HTTPS redirect, sessions,
sign-in and throttling, and they never set or read a cookie.

- ``/healthz``: the process answers; no I/O. Always 200.
- ``/readyz``: the database, the broker and the registered checks (the embedding model is
  loaded), 200 when all pass, else 503. JSON, no personal data, no host names: a failed
  check says only the error's type (the log line has the details).
- ``/metrics``: Prometheus text format, only with ``METRICS_TOKEN`` or from
  ``METRICS_ALLOWED_IPS`` (``portal.metrics``); 404 otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from portal import registry
from portal.metrics import broker_client, metrics_response

logger = logging.getLogger(__name__)

NO_CACHE = "no-cache"  # a probe must always reach the process


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> dict[str, Any]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _broker() -> dict[str, Any]:
    client = broker_client()
    if client is None:  # not Redis: let kombu connect (and fail) the way the workers do
        from portal.celery import app

        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    else:
        client.ping()
    return {"ok": True}


def _run(name: str, check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = dict(check())
    except Exception as error:
        logger.warning("Readiness check %s failed", name, exc_info=True)
        result = {"ok": False, "error": type(error).__name__}
    result["ok"] = bool(result.get("ok"))
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def readyz(request: HttpRequest) -> JsonResponse:
    checks: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("database", _database),
        ("broker", _broker),
        *((check.name, check.check) for check in registry.readiness_checks()),
    ]
    results = {name: _run(name, check) for name, check in checks}
    ready = all(result["ok"] for result in results.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
    response["Cache-Control"] = NO_CACHE
    return response


ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics_response,
}


class ProbeMiddleware:
    """Answers GET/HEAD of ``ENDPOINTS`` (with or without a trailing slash) itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = ENDPOINTS.get(request.path_info.rstrip("/"))
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse(status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return endpoint(request)
