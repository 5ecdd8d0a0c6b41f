"""Files sent with secure messages: checked before anything is stored, then kept encrypted.

A customer's receipt or statement, or a document the bank sends back. Only PDF, PNG, JPEG
and plain text are accepted, each recognised by its content (magic bytes), never by the name
or the type the browser claims; a message carries at most ``SECURE_ATTACHMENTS_PER_MESSAGE``
files of ``SECURE_ATTACHMENTS_MAX_BYTES`` together. The name a file is kept and served under
ends with its type's extension (``invoice.html`` holding plain text becomes
``invoice.html.txt``): whoever opens a download gets what was checked. Nothing reads a
file's content for the assistant: an attachment is evidence for a person, never text for
the model.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from assistant.messaging.models import MessageAttachment, SecureMessage
from knowledge.ingestion.parsers import PDF, TEXT, ParseError, detect_content_type
from portal.formatting import format_size
from portal.validation import upload_filename

logger = logging.getLogger(__name__)

FIELD = "attachments"
ACCEPTED = "PDF, PNG, JPEG or plain-text files"
# Images are not documents the ingestion pipeline parses: their signatures are checked here.
_IMAGES = {
    "image/png": (b"\x89PNG\r\n\x1a\n", {".png"}, "a PNG image"),
    "image/jpeg": (b"\xff\xd8\xff", {".jpg", ".jpeg"}, "a JPEG image"),
}
_DOCUMENTS = {PDF, TEXT}
# The extensions a kept name may end with, per type; the first is added otherwise.
_EXTENSIONS = {
    PDF: (".pdf",),
    TEXT: (".txt",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}


@dataclass(frozen=True)
class CheckedFile:
    upload: UploadedFile
    name: str  # as kept and served (its type's extension)
    content_type: str
    sha256: str
    size: int


def _image_type(name: str, claimed: str) -> str | None:
    """The image type an upload says it is (by its type, else its extension), if any."""
    if claimed in _IMAGES:
        return claimed
    extension = PurePath(name).suffix.lower()
    return next((kind for kind, (_, exts, _) in _IMAGES.items() if extension in exts), None)


def _content_type(name: str, claimed: str, data: bytes) -> str:
    if not data:
        raise ValidationError(f"“{name}” is empty.")
    image = _image_type(name, claimed)
    if image is not None:
        magic, _, described = _IMAGES[image]
        if not data.startswith(magic):
            raise ValidationError(f"“{name}” is not {described}: its content does not match.")
        return image
    try:
        content_type = detect_content_type(name, data, claimed)
    except ParseError as error:
        if error.reason == "unsupported":
            raise ValidationError(f"“{name}” cannot be attached: attach {ACCEPTED}.") from error
        raise ValidationError(f"“{name}”: {error}") from error
    if content_type not in _DOCUMENTS:
        raise ValidationError(f"“{name}” cannot be attached: attach {ACCEPTED}.")
    if content_type == PDF and not data.startswith(b"%PDF-"):
        # Readers accept a header further in; a file handed to a person must be a PDF at once.
        raise ValidationError(f"“{name}” is not a PDF: its content does not match.")
    return content_type


def kept_name(name: str, content_type: str) -> str:
    """``name`` ending with an extension of ``content_type`` (added when it does not)."""
    extensions = _EXTENSIONS[content_type]
    if PurePath(name).suffix.lower() in extensions:
        return name
    return upload_filename(f"{name}{extensions[0]}", default=f"file{extensions[0]}")


def attachments_check(uploads: Sequence[UploadedFile | None]) -> list[CheckedFile]:
    """The files of one message, each checked (``ValidationError`` on ``attachments`` with
    every problem found; nothing is stored)."""
    files = [upload for upload in uploads if upload is not None]
    most = settings.SECURE_ATTACHMENTS_PER_MESSAGE
    if len(files) > most:
        raise ValidationError({FIELD: f"Attach at most {most} files to a message."})
    total = sum(upload.size or 0 for upload in files)
    limit = settings.SECURE_ATTACHMENTS_MAX_BYTES
    if total > limit:
        raise ValidationError(
            {
                FIELD: f"The files come to {format_size(total)}; "
                f"the files of one message may be {format_size(limit)} at most."
            }
        )
    checked: list[CheckedFile] = []
    problems: list[str] = []
    for upload in files:
        name = upload_filename(upload.name, default="file")
        claimed = (getattr(upload, "content_type", None) or "").split(";", 1)[0].strip().lower()
        upload.seek(0)
        data = upload.read()
        upload.seek(0)
        try:
            content_type = _content_type(name, claimed, data)
        except ValidationError as invalid:
            problems.extend(invalid.messages)
            continue
        digest = hashlib.sha256(data).hexdigest()
        checked.append(
            CheckedFile(upload, kept_name(name, content_type), content_type, digest, len(data))
        )
    if problems:
        raise ValidationError({FIELD: problems})
    return checked


@contextmanager
def files_removed_on_failure() -> Iterator[list[Any]]:
    """Around a service's transaction: the files ``attachments_store`` wrote are deleted
    again when the transaction fails (no stored file without its row). Use it outside
    ``transaction.atomic()``; an outer transaction of the caller's that rolls back later is
    not seen."""
    stored: list[Any] = []
    try:
        yield stored
    except BaseException:
        for field in stored:
            try:
                field.storage.delete(field.name)
            except Exception:  # the storage is down: logged; the failure itself goes on
                logger.exception("Could not delete the stored file %s.", field.name)
        raise


def attachments_store(
    message: SecureMessage, files: Sequence[CheckedFile], stored: list[Any]
) -> list[dict[str, Any]]:
    """Store checked ``files`` with ``message`` (inside the caller's transaction; each file
    written goes into ``stored``, from ``files_removed_on_failure``); what the audit trail
    keeps of them (never their names: they may name the customer)."""
    kept: list[dict[str, Any]] = []
    for item in files:
        row = MessageAttachment(
            message=message,
            original_filename=item.name,
            content_type=item.content_type,
            sha256=item.sha256,
            size_bytes=item.size,
        )
        row.file.save(item.name, item.upload, save=False)
        stored.append(row.file)
        row.save()
        kept.append(
            {"id": row.pk, "sha256": item.sha256, "bytes": item.size, "type": item.content_type}
        )
    return kept
