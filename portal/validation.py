"""Text every input must be, and ids as clients send them: one set of rules for the API's
JSON bodies (``portal.api.parsers``), the pages' query strings and form fields
(``InvalidInputMiddleware``) and the views that read ids from a request (``parse_id``).

- **No NUL** (``\\x00``): PostgreSQL text cannot hold it, so it would fail at the insert.
- **No lone surrogates** (U+D800 to U+DFFF): not characters; a JSON body may spell one as
  ``"\\ud800"``, which can be stored encrypted but not rendered as UTF-8 again.
- **JSON nested at most** ``MAX_JSON_DEPTH`` levels.

Rows stored before these checks may still hold lone surrogates: ``scrub_data`` turns them
into U+FFFD where encrypted values are read back (``portal.crypto``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

MAX_JSON_DEPTH = 32
_MAX_ID_DIGITS = 18  # below 2**63: a bigint, and far below int()'s 4,300-digit limit
_INVALID = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidText(ValueError):
    """Input that is not valid text; ``str(error)`` says what and where, for the client."""


def text_problem(value: str) -> str | None:
    """What makes ``value`` invalid text, or None when it is fine."""
    match = _INVALID.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "contains a NUL character (\\u0000)"
    return "contains invalid Unicode (a lone surrogate, e.g. \\ud800)"


def check_text(value: str, where: str = "The text") -> None:
    """Raise InvalidText when ``value`` holds a NUL or a lone surrogate."""
    problem = text_problem(value)
    if problem is not None:
        raise InvalidText(f"{where} {problem}.")


def check_data(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Check every key and string of parsed JSON, and its depth (iteratively: no recursion
    however deep the data); raise InvalidText naming the first bad place."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            check_text(value, _where(path))
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise InvalidText(too_deep(max_depth))
            if isinstance(value, dict):
                for key, item in value.items():
                    key_path = f"{path}.{key}" if path else str(key)
                    if isinstance(key, str):
                        check_text(key, _where(key_path, key=True))
                    stack.append((item, key_path, depth + 1))
            else:
                stack.extend(
                    (item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)
                )


def too_deep(max_depth: int = MAX_JSON_DEPTH) -> str:
    return f"The JSON is nested more than {max_depth} levels deep."


def _where(path: str, *, key: bool = False) -> str:
    # The path is the client's own keys: shown escaped, never as raw invalid text.
    shown = path.encode("ascii", "backslashreplace").decode("ascii")[:200]
    if key:
        return f"The key “{shown}”"
    return f"The value at “{shown}”" if shown else "The value"


def scrub_text(value: str) -> str:
    """``value`` with each lone surrogate replaced by U+FFFD (for output)."""
    return _SURROGATE.sub("\ufffd", value)


def scrub_data(data: Any) -> Any:
    """A copy of JSON-like data whose keys and strings have no lone surrogates (output of
    rows stored before input was checked); unchanged data is returned as is."""
    if isinstance(data, str):
        return scrub_text(data)
    if isinstance(data, dict):
        return {
            scrub_text(key) if isinstance(key, str) else key: scrub_data(item)
            for key, item in data.items()
        }
    if isinstance(data, list):
        return [scrub_data(item) for item in data]
    return data


def parse_id(value: object) -> int | None:
    """A database id from a request value: ASCII digits only (``"²".isdigit()`` is True
    and ``int("²")`` fails; ``int("١٢")`` is 12), at most 18 of them; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > _MAX_ID_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


MAX_FILENAME_CHARS = 255


def upload_filename(name: str | None, default: str = "upload") -> str:
    """An uploaded file's name as it may be kept and shown: its last path component (after
    ``/`` or ``\\``), printable characters only (no NUL, line breaks, bidi overrides or
    zero-width characters), at most ``MAX_FILENAME_CHARS`` (the end kept, with the
    extension); ``default`` when nothing is left. Django's multipart parser does the first
    two for names sent over HTTP; this is for every caller, the ``ingest`` command too."""
    last = re.split(r"[/\\]", name or "")[-1]
    kept = "".join(char for char in last if char.isprintable())[-MAX_FILENAME_CHARS:]
    return default if kept in {"", ".", ".."} else kept


# --------------------------------------------------------------------------- middleware


class InvalidInputMiddleware:
    """400 for a NUL or a lone surrogate in the path, a query-string or form key or value
    (file contents are not text and are not looked at; Django drops unprintable characters
    from file names itself). JSON bodies are checked by the API's parser
    (``portal.api.parsers.JSONParser``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            _check_request(request)
        except InvalidText as error:
            return _bad_request(request, str(error))
        return self.get_response(request)


def _check_request(request: HttpRequest) -> None:
    check_text(request.path_info, "The address")
    for name, values in request.GET.lists():
        _check_field("query parameter", name, values)
    if request.method == "POST" and request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        for name, values in request.POST.lists():
            _check_field("form field", name, values)


def _check_field(kind: str, name: str, values: list[str]) -> None:
    shown = name.encode("ascii", "backslashreplace").decode("ascii")[:100]
    check_text(name, f"The name of a {kind}")
    for value in values:
        check_text(value, f"The {kind} “{shown}”")


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"message": message, "extra": {}}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
