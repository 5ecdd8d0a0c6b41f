"""The API side of ``portal.shortcuts.visible_or_404``: missing or forbidden is a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from rest_framework.exceptions import NotFound

P = ParamSpec("P")
T = TypeVar("T")


def visible_or_not_found(getter: Callable[P, T], what: str) -> Callable[P, T]:
    """Wrap a selector so ``DoesNotExist`` becomes DRF's ``NotFound("No such <what>.")``."""

    def get(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return getter(*args, **kwargs)
        except ObjectDoesNotExist as missing:
            raise NotFound(f"No such {what}.") from missing

    return get
