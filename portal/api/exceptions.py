"""One shape for every API error: ``{"message": str, "extra": {...}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ApplicationError
from portal.services import audit_event_record

API_PREFIX = "/api/"
CUSTOMER_API_PREFIX = "/secure/api/"  # the customers' API (assistant.messaging)


def is_api_request(request: HttpRequest) -> bool:
    """Under ``/api/`` (and the customers' ``/secure/api/``): every answer there, errors
    included, is JSON."""
    return request.path_info.startswith((API_PREFIX, CUSTOMER_API_PREFIX))


def error_response(message: str, status: int, extra: dict[str, Any] | None = None) -> JsonResponse:
    """The API's error shape outside DRF (Django's 404/500 handlers, middleware)."""
    return JsonResponse({"message": message, "extra": extra or {}}, status=status)


def _django_validation_detail(error: DjangoValidationError) -> Any:
    return error.message_dict if hasattr(error, "error_dict") else {"errors": error.messages}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        shaped = Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
        retry_after = exc.extra.get("retry_after")
        if exc.status_code == status.HTTP_429_TOO_MANY_REQUESTS and retry_after:
            shaped["Retry-After"] = str(retry_after)
        return shaped
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        # Keep the service's reason ("Only the person who ... may ..."), if it gave one.
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    if isinstance(exc, exceptions.PermissionDenied) and request is not None:
        audit_event_record(
            action="permission.denied",
            actor=request.user,
            details={"path": request.path[:500], "method": request.method, "api": True},
        )
    if isinstance(exc, exceptions.ValidationError):
        message = "Validation error"
        extra: dict[str, Any] = {"fields": response.data}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        message = str(detail) or str(exc)
        extra = {}
    response.data = {"message": message, "extra": extra}
    return response
