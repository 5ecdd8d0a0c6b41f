"""What the OpenAPI schema says about errors, the same for every operation.

A drf-spectacular post-processing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``):
the views document their own error cases (a 404 for an object, a 429 for the assistant's
rate limit) in words; this adds what every operation of the API may answer, and gives every
error its body, ``{"message", "extra"}`` (portal.api.exceptions), so that clients and the
API fuzzer (tests/portal/test_api_fuzz.py) can rely on the schema:

- 400 for any request (text that is not text in a query parameter or a form field is
  refused before any view reads it), 401 and 403 (every endpoint needs a role that may use
  the API), 429 (the API throttle);
- 404 for a page that does not exist of a paginated list (``?page=``);
- 413 for an operation that takes a body (over ``DATA_UPLOAD_MAX_MEMORY_SIZE``).
"""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: a human-readable message and details (`fields` for a "
    "validation error, `retry_after`, `limit_bytes`, ...).",
    "properties": {
        "message": {"type": "string"},
        "extra": {"type": "object", "additionalProperties": {}},
    },
    "required": ["message", "extra"],
}

EVERY_OPERATION = {
    "400": "Invalid input (a validation error or a business rule; text with a NUL or a lone "
    "surrogate anywhere in the request)",
    "401": "Not authenticated",
    "403": "Your role may not do this",
    "429": "Too many requests (Retry-After)",
}
PAGE_NOT_FOUND = "No such page (`?page=` beyond the last page, or not a page number)"
TOO_LARGE = "Body too large (`extra.limit_bytes`)"

_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def document_errors(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Add the errors every operation may answer, each with the error body."""
    error_ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            wanted = dict(EVERY_OPERATION)
            if any(
                p.get("in") == "query" and p.get("name") == "page"
                for p in operation.get("parameters", [])
            ):
                wanted["404"] = PAGE_NOT_FOUND
            if "requestBody" in operation:
                wanted["413"] = TOO_LARGE
            for code, description in wanted.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code.startswith("4") and "content" not in response:
                    response["content"] = {"application/json": {"schema": error_ref}}
            operation["responses"] = dict(sorted(responses.items()))
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    return result
