"""Per-request facts (request id, client IP) that the audit trail records.

Set by middleware, read by services, so that a service deep in a call chain (or a Celery
task, where they are empty) can audit without threading the request through.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None


_current: ContextVar[RequestContext] = ContextVar(
    "portal_request_context",
    default=RequestContext(),  # noqa: B039 - frozen, so sharing it is safe
)


def current() -> RequestContext:
    return _current.get()


def set_current(context: RequestContext) -> Any:
    return _current.set(context)


def reset(token: Any) -> None:
    _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
