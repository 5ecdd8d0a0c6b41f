"""Per-request facts (request id, client IP, user, route) for the audit trail and the logs.

Set by middleware, read by services and the log filter, so that a service deep in a call
chain (or a Celery task, where they are empty) can audit without threading the request
through.
"""

from __future__ import annotations

import dataclasses
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None
    # What the client sent as X-Request-ID (checked, never used as our own id), if anything.
    client_request_id: str = ""
    user_id: int | None = None
    route: str = ""  # the URL name ("knowledge:search"), never the raw path


EMPTY = RequestContext()

_current: ContextVar[RequestContext] = ContextVar(
    "portal_request_context",
    default=EMPTY,  # frozen, so sharing it is safe
)


def current() -> RequestContext:
    return _current.get()


def set_current(context: RequestContext) -> Any:
    return _current.set(context)


def reset(token: Any) -> None:
    _current.reset(token)


def update(**changes: Any) -> None:
    """Fill in what becomes known later in the request (user, route); no-op outside one."""
    context = _current.get()
    if context.request_id:
        _current.set(dataclasses.replace(context, **changes))


def clear() -> None:
    """Back to "no request" (the response was closed)."""
    _current.set(EMPTY)


def new_request_id() -> str:
    return uuid.uuid4().hex
