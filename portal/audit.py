"""What the audit trail keeps of the text that people type: a fingerprint, never the text.

The trail (``portal_auditevent``) is append-only (a trigger refuses ``UPDATE`` and
``DELETE``) and kept for years, so a value written there can never be erased, corrected or
re-encrypted: ``rotate_field_keys`` could not rewrite an encrypted ``details`` column, and the
old keys would have to be kept for as long as the rows. So ``details`` is not encrypted;
instead it never holds typed text, which may name customers or hold their tax ids (search
queries, questions, tool arguments the model wrote from them, comments, notes, file names).

``audit_event_record`` passes every ``details`` through ``minimised``: wherever a key of
``TYPED_KEYS`` appears (at any depth: ``tools[].arguments``), its value is concealed, and so
is any value wrapped in ``typed(...)`` by the caller (for a key such as ``reason``, typed in
one event and a code in another). Concealed, a string becomes its fingerprint
``{"fingerprint": "<32 hex>", "chars": 17}``; numbers, booleans and null (ids, counts,
flags) are kept, and so is ``type`` inside a concealed object (a citation's kind). The ids
that matter stay readable: the answer's message id (its encrypted text is in the message),
chunk and record ids, the customer id of a pre-fill or submission.

A fingerprint is an HMAC-SHA256 of the text with its case and spacing normalised, keyed by
``SECRET_KEY`` (salted): equal texts give equal fingerprints, so an investigator can check
whether someone searched for a given name or tax id (``manage.py audit_fingerprint TEXT``,
which also gives the fingerprints under ``SECRET_KEY_FALLBACKS``), and nobody without the key
can test guesses against the trail.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

# Keys whose values people (or the model, from what people typed) write.
TYPED_KEYS = frozenset(
    {"query", "question", "arguments", "citations", "comment", "notes", "filename"}
)
# Kept inside a concealed object: a closed set of codes, never typed.
_KEPT_INSIDE = frozenset({"type"})
_SALT = "portal.audit.fingerprint"


class typed:  # lower case: used like a function at call sites
    """A details value that is typed text whatever its key: concealed like ``TYPED_KEYS``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def fingerprint(text: str, secret: str | bytes | None = None) -> dict[str, Any]:
    """What the trail keeps of ``text`` (with ``secret``, under another ``SECRET_KEY``)."""
    digest = salted_hmac(
        _SALT, _normalised(text), secret=secret or settings.SECRET_KEY, algorithm="sha256"
    )
    return {"fingerprint": digest.hexdigest()[:32], "chars": len(text)}


def conceal(value: Any) -> Any:
    """``value`` with every string replaced by its fingerprint (ids, counts, flags kept)."""
    if isinstance(value, typed):
        return conceal(value.value)
    if isinstance(value, str):
        return fingerprint(value)
    if isinstance(value, Mapping):
        return {
            key: item if key in _KEPT_INSIDE and isinstance(item, str) else conceal(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [conceal(item) for item in value]
    return value


def minimised(details: Any) -> Any:
    """``details`` with the values of ``TYPED_KEYS`` and of ``typed(...)`` concealed."""
    if isinstance(details, typed):
        return conceal(details.value)
    if isinstance(details, Mapping):
        return {
            key: conceal(item) if key in TYPED_KEYS else minimised(item)
            for key, item in details.items()
        }
    if isinstance(details, list | tuple):
        return [minimised(item) for item in details]
    return details
