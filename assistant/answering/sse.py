"""An answer's events as server-sent events, for the portal page and the API alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse

from assistant.answering.types import AnswerEvent
from assistant.models import Message
from portal import request_context

logger = logging.getLogger(__name__)

STREAM_FAILED = "The answer failed while it was being written; your question is kept — ask again."


def sse(kind: str, data: dict[str, Any]) -> bytes:
    # json.dumps escapes newlines, so one data line per event is enough.
    return f"event: {kind}\ndata: {json.dumps(data, cls=DjangoJSONEncoder)}\n\n".encode()


@contextmanager
def _in(context: request_context.RequestContext) -> Iterator[None]:
    token = request_context.set_current(context)
    try:
        yield
    finally:
        with suppress(ValueError):  # reset from another context (ASGI): nothing to undo
            request_context.reset(token)


def _events(
    events: Iterator[AnswerEvent],
    context: request_context.RequestContext,
    done: Callable[[Message], dict[str, Any]],
) -> Iterator[bytes]:
    """The middleware's request context (request id and IP for the audit trail) ends when
    the view returns, before the body is streamed: it is set again around each step."""
    try:
        while True:
            with _in(context):
                try:
                    event: AnswerEvent | None = next(events)
                except StopIteration:
                    return
                except Exception:
                    logger.exception("The answer stream failed")
                    event = None
                if event is not None and event.kind == "done":
                    payload = done(event.data["message"])
                elif event is not None:
                    payload = event.data
            if event is None:
                yield sse("error", {"message": STREAM_FAILED, "extra": {}})
                return
            yield sse(event.kind, payload)
    finally:
        # A reader who went away closes us: close the answer now, in the request's context,
        # so that the service finishes and stores it under this request's id.
        close = getattr(events, "close", None)
        if close is not None:
            with _in(context):
                close()


def event_stream_response(
    events: Iterator[AnswerEvent], done: Callable[[Message], dict[str, Any]]
) -> StreamingHttpResponse:
    """A streaming response of ``events``; ``done`` turns the stored answer into the last
    event's data. Call it in the view, while the request's context is current."""
    response = StreamingHttpResponse(
        _events(events, request_context.current(), done),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: pass each event on at once
    return response
