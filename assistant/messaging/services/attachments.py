"""Files sent with secure messages: checked before anything is stored, then kept encrypted.

A customer's receipt or statement, or a document the bank sends back. Only PDF, PNG, JPEG
and plain text are accepted, each recognised by its content (magic bytes), never by the name
or the type the browser claims; a message carries at most ``SECURE_ATTACHMENTS_PER_MESSAGE``
files of ``SECURE_ATTACHMENTS_MAX_BYTES`` together. Nothing reads a file's content for the
assistant: an attachment is evidence for a person, never text for the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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

FIELD = "attachments"
ACCEPTED = "PDF, PNG, JPEG or plain-text files"
# Images are not documents the ingestion pipeline parses: their signatures are checked here.
_IMAGES = {
    "image/png": (b"\x89PNG\r\n\x1a\n", {".png"}, "a PNG image"),
    "image/jpeg": (b"\xff\xd8\xff", {".jpg", ".jpeg"}, "a JPEG image"),
}
_DOCUMENTS = {PDF, TEXT}


@dataclass(frozen=True)
class CheckedFile:
    upload: UploadedFile
    name: str
    content_type: str
    sha256: str
    size: int


def _image_type(name: str, claimed: str) -> str | None:
    """The image type an upload says it is (by its type, else its extension), if any."""
    if claimed in _IMAGES:
        return claimed
    extension = PurePath(name).suffix.lower()
    return next((kind for kind, (_, exts, _) in _IMAGES.items() if extension in exts), None)


def _content_type(name: str, upload: UploadedFile) -> str:
    claimed = (getattr(upload, "content_type", None) or "").split(";", 1)[0].strip().lower()
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
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
        raise ValidationError(f"“{name}”: {error} Attach {ACCEPTED}.") from error
    if content_type not in _DOCUMENTS:
        raise ValidationError(f"“{name}” cannot be attached: attach {ACCEPTED}.")
    return content_type


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
        try:
            content_type = _content_type(name, upload)
        except ValidationError as invalid:
            problems.extend(invalid.messages)
            continue
        digest = hashlib.sha256()
        for piece in upload.chunks():
            digest.update(piece)
        upload.seek(0)
        checked.append(
            CheckedFile(upload, name, content_type, digest.hexdigest(), upload.size or 0)
        )
    if problems:
        raise ValidationError({FIELD: problems})
    return checked


def attachments_store(message: SecureMessage, files: Sequence[CheckedFile]) -> list[dict[str, Any]]:
    """Store checked ``files`` with ``message`` (inside the caller's transaction); what the
    audit trail keeps of them (never their names: they may name the customer)."""
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
        row.save()
        kept.append(
            {"id": row.pk, "sha256": item.sha256, "bytes": item.size, "type": item.content_type}
        )
    return kept
