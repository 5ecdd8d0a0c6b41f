"""Forbidden looks like missing: one way for views to fetch what the user may see."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404

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
