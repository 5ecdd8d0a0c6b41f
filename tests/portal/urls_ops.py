"""The portal's URLs plus a few test-only views: failures and log lines under /api/ and in
a page (override_settings(ROOT_URLCONF="tests.portal.urls_ops"))."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.urls import handler400, handler403, handler404, handler500, urlpatterns

logger = logging.getLogger("tests.ops")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: secret internals")


def log_something(request: HttpRequest) -> HttpResponse:
    logger.warning("inside the view")
    return HttpResponse("logged")


urlpatterns = [
    path("api/v1/test-boom/", boom, name="test_api_boom"),
    path("test-boom/", boom, name="test_page_boom"),
    path("test-log/", log_something, name="test_log"),
    *urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
