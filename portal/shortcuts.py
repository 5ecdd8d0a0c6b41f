"""Forbidden looks like missing: one way for views to fetch what the user may see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.http import FileResponse, Http404

P = ParamSpec("P")
T = TypeVar("T")


def visible_or_404(getter: Callable[P, T], what: str) -> Callable[P, T]:
    """Wrap a selector so a missing *or forbidden* row becomes ``Http404("No such <what>.")``.

    ``visible_or_404(document_get, "document")(request.user, pk)``: the selector applies the
    permission policy and raises ``DoesNotExist`` for both cases, so the page cannot tell them
    apart.
    """

    def get(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return getter(*args, **kwargs)
        except ObjectDoesNotExist as missing:
            raise Http404(f"No such {what}.") from missing

    return get


def stored_file_response(file: Any, *, filename: str, content_type: str, size: int) -> FileResponse:
    """Stream a file kept with ``portal.storage.encrypted_storage`` as a download (decrypted as
    it streams: a wrong key or a damaged file fails before the response starts). Call it
    after the permission check; ``Http404`` when the file was erased. ``size`` is the
    plaintext's (the stored file is larger, and FileResponse cannot measure a stream)."""
    if not file:
        raise Http404("This file was erased.")
    plaintext = file.storage.open(file.name, "rb")
    response = FileResponse(
        plaintext, as_attachment=True, filename=filename, content_type=content_type
    )
    response["Content-Length"] = str(size)
    return response
