"""The project's own error: a business rule said no (distinct from validation or permission)."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status_code = 400  # the HTTP status the API answers with

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
