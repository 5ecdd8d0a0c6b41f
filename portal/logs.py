"""Log records with the request they belong to: JSON in production, text in development.

``RequestContextFilter`` (on the console handler) adds ``request_id``, ``user_id`` and
``route`` (the URL name) from ``portal.request_context`` to every record emitted while a
request is handled, empty outside one (Celery tasks, commands). ``logging_config`` builds
the ``LOGGING`` setting for either format.
"""

from __future__ import annotations

import logging
from typing import Any

from portal import request_context

CONTEXT_FIELDS = ("request_id", "user_id", "route")

TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [request=%(request_id)s user=%(user_id)s "
    "route=%(route)s] %(message)s"
)
JSON_FIELDS = ["asctime", "levelname", "name", "message", *CONTEXT_FIELDS]


class RequestContextFilter(logging.Filter):
    """Adds the current request's id, user id and route to each record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = request_context.current()
        record.request_id = context.request_id or None
        record.user_id = context.user_id
        record.route = context.route or None
        return True


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """``LOGGING`` for ``fmt`` "json" (one JSON object a line) or "text"."""
    if fmt not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'text', not {fmt!r}")
    formatters: dict[str, Any] = {
        "text": {"format": TEXT_FORMAT},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "portal.logs.RequestContextFilter"}},
        "formatters": formatters,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # The Azure SDK logs every HTTP request and response at INFO (file names, headers).
        "loggers": {"axes": {"level": "WARNING"}, "azure": {"level": "WARNING"}},
    }
