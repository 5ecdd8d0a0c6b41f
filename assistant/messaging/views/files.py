"""Downloads of the files sent with secure messages (both sides)."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest

from assistant.messaging.models import MessageAttachment
from portal.services import audit_event_record
from portal.shortcuts import stored_file_response


def attachment_download(request: HttpRequest, item: MessageAttachment) -> FileResponse:
    """Stream ``item`` (already checked through ``attachment_get``), audited."""
    response = stored_file_response(
        item.file,
        filename=item.original_filename,
        content_type=item.content_type,
        size=item.size_bytes,
    )
    audit_event_record(
        action="messaging.attachment_downloaded",
        actor=request.user,
        target=item.message,
        details={"attachment": item.pk, "thread": item.message.thread_id, "sha256": item.sha256},
    )
    return response
