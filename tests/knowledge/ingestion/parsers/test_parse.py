"""parse(): dispatch, size limits and refusals common to every format; ParseError."""

from __future__ import annotations

import pickle

import pytest

from knowledge.ingestion.parsers import (
    DOCX,
    HTML,
    MARKDOWN,
    PDF,
    SUPPORTED_TYPES,
    TEXT,
    ParseError,
    parse,
)
from tests.knowledge.ingestion.parsers.samples import reason_of, texts


def test_supported_types_have_names() -> None:
    assert set(SUPPORTED_TYPES) == {PDF, DOCX, HTML, MARKDOWN, TEXT}


def test_parse_error_pickles() -> None:
    error = ParseError("corrupt", "The file is damaged.")
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (restored.reason, str(restored)) == ("corrupt", "The file is damaged.")


def test_too_large() -> None:
    data = b"x" * (3 * 1024 * 1024 + 1)
    with pytest.raises(ParseError) as excinfo:
        parse(data, TEXT, max_bytes=2 * 1024 * 1024)
    assert reason_of(excinfo) == "too_large"
    assert str(excinfo.value) == "The file is 3 MB; the limit is 2 MB."


def test_too_large_never_shows_equal_sizes() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b"x" * (10 * 1024 * 1024 + 1), TEXT, max_bytes=10 * 1024 * 1024)
    assert str(excinfo.value) == "The file is over 10 MB; the limit is 10 MB."


def test_within_limit_parses() -> None:
    assert texts(parse(b"short", TEXT, max_bytes=5)) == ["short"]


def test_parse_rejects_unknown_type() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse(b"data", "application/zip")
    assert reason_of(excinfo) == "unsupported"
