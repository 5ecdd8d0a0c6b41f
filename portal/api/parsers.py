"""The API's JSON parser: valid text only, and no nesting a recursive reader cannot take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from portal.validation import InvalidText, check_data, too_deep


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, then ``portal.validation.check_data`` on the result: a NUL or a
    lone surrogate (``"\\ud800"``) in any key or string, or nesting deeper than
    ``MAX_JSON_DEPTH``, answers 400 ``{"message", "extra"}`` before a view sees the data.
    ``json`` itself recurses, so a body nested thousands deep stops it with RecursionError:
    that is a 400 too."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {too_deep()}") from None
        try:
            check_data(data)
        except InvalidText as error:
            raise ParseError(f"JSON parse error - {error}") from None
        return data
