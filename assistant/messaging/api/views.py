"""REST API of the secure message center: the staff side (``/api/v1/threads/``: the inbox of
your regions, replies with the assistant's drafts, notes, assignment) and the customer side
(``/secure/api/v1/threads/``: a customer's own threads; staff get 404 there, customers get
404 on the staff API). The services check everything again."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.messaging.api.serializers import (
    AssignSerializer,
    AutoReplyReviewSerializer,
    CustomerMessageCreateSerializer,
    CustomerMessageSerializer,
    CustomerThreadDetailSerializer,
    CustomerThreadSerializer,
    NoteSerializer,
    ReplySerializer,
    SecureDraftSerializer,
    SecureMessageSerializer,
    ThreadDetailSerializer,
    ThreadListQuerySerializer,
    ThreadSerializer,
    ThreadStartSerializer,
)
from assistant.messaging.models import Thread
from assistant.messaging.selectors import (
    attachment_get,
    draft_get,
    message_get,
    thread_drafts,
    thread_get,
    thread_list,
    thread_messages,
)
from assistant.messaging.services.threads import (
    auto_reply_review,
    customer_message_post,
    draft_discard,
    message_retract,
    note_add,
    staff_reply_send,
    thread_assign,
    thread_close,
    thread_mark_read,
    thread_start,
)
from assistant.messaging.views.files import attachment_download
from knowledge.customers.selectors import own_customer
from portal.api.permissions import requires, token_allows
from portal.api.shortcuts import visible_or_not_found
from portal.permissions import Action, can, is_customer
from portal.services import audit_event_record

CanHandleMessages = requires(Action.HANDLE_MESSAGES)
TAGS = ["secure messages"]
CUSTOMER_TAGS = ["secure messages (customers)"]
_ERRORS = {
    400: OpenApiResponse(description="Validation error: {message, extra: {fields}}"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not allowed"),
}
_NOT_FOUND = {404: OpenApiResponse(description="Not found, or not visible to you")}

_thread = visible_or_not_found(thread_get, "thread")


def _detail(request: Request, thread: Thread) -> dict[str, Any]:
    context = {
        "messages": thread_messages(request.user, thread),
        "drafts": thread_drafts(request.user, thread),
    }
    return dict(ThreadDetailSerializer(thread, context=context).data)


class ThreadListApi(generics.GenericAPIView[Thread]):
    """The threads of your regions' customers, newest activity first."""

    permission_classes = [CanHandleMessages]
    serializer_class = ThreadSerializer

    @extend_schema(
        summary="List secure threads",
        tags=TAGS,
        parameters=[ThreadListQuerySerializer],
        responses={200: ThreadSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = ThreadListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        rows = thread_list(
            request.user,
            status=filters.get("status", "active"),
            category=filters.get("category", ""),
            waiting_longer_than=filters.get("waiting", ""),
            assigned=filters.get("assigned", ""),
            review=filters.get("review", ""),
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ThreadSerializer(page, many=True).data)


class ThreadDetailApi(APIView):
    """A thread with its messages (internal notes included) and the assistant's drafts;
    reading it marks the customer's messages read."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Read a secure thread",
        tags=TAGS,
        responses={200: ThreadDetailSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        thread = _thread(request.user, pk)
        audit_event_record(action="messaging.thread_viewed", actor=request.user, target=thread)
        thread_mark_read(user=request.user, thread=thread)
        return Response(_detail(request, thread))


class ThreadReplyApi(APIView):
    """Reply to the customer: with ``draft``, the assistant's draft this reply approves (as
    edited in ``body``); with ``form``, a pre-filled form sent for the customer to confirm,
    bound to the customer's own ``form_transaction``."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Reply to the customer",
        tags=TAGS,
        request=ReplySerializer,
        responses={201: SecureMessageSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        thread = _thread(request.user, pk)
        payload = ReplySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        draft = None
        if data.get("draft"):
            try:
                draft = draft_get(request.user, data["draft"])
            except ObjectDoesNotExist as missing:
                raise exceptions.ValidationError({"draft": ["No such draft."]}) from missing
        message = staff_reply_send(
            user=request.user,
            thread=thread,
            body=data["body"],
            draft=draft,
            form=data.get("form") or "",
            form_transaction=data.get("form_transaction"),
            seen=data.get("seen"),
            attachments=data.get("attachments") or [],
        )
        return Response(SecureMessageSerializer(message).data, status=status.HTTP_201_CREATED)


_FILE = {
    (200, kind): OpenApiTypes.BINARY
    for kind in ("application/pdf", "image/png", "image/jpeg", "text/plain")
}
_file = visible_or_not_found(attachment_get, "file")


class _FileDownload(APIView):
    """A file as it was stored, whatever the client accepts (errors stay JSON)."""

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        renderer = JSONRenderer()
        return renderer, renderer.media_type


class ThreadAttachmentApi(_FileDownload):
    """A file sent with a message of the thread (the customer's, or a reply)."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Download a file of a secure message",
        tags=TAGS,
        responses={**_FILE, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int, attachment_id: int) -> HttpResponseBase:
        thread = _thread(request.user, pk)
        return attachment_download(request, _file(request.user, thread, attachment_id))


class ThreadNoteApi(APIView):
    """An internal note between staff (never shown to the customer)."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Add an internal note",
        tags=TAGS,
        request=NoteSerializer,
        responses={201: SecureMessageSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        thread = _thread(request.user, pk)
        payload = NoteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        note = note_add(user=request.user, thread=thread, body=payload.validated_data["body"])
        return Response(SecureMessageSerializer(note).data, status=status.HTTP_201_CREATED)


class ThreadAssignApi(APIView):
    """Give the thread to a person who handles its region (``null``: to nobody)."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Assign a secure thread",
        tags=TAGS,
        request=AssignSerializer,
        responses={200: ThreadSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        thread = _thread(request.user, pk)
        payload = AssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        name = payload.validated_data["assignee"]
        assignee = None
        if name:
            assignee = get_user_model().objects.filter(username=name, is_active=True).first()
            if assignee is None:
                raise exceptions.ValidationError(
                    {"assignee": ["This person does not handle this customer's region."]}
                )
        thread = thread_assign(user=request.user, thread=thread, assignee=assignee)
        return Response(ThreadSerializer(_thread(request.user, thread.pk)).data)


class ThreadCloseApi(APIView):
    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Close a secure thread",
        tags=TAGS,
        request=None,
        responses={200: ThreadSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        thread = thread_close(user=request.user, thread=_thread(request.user, pk))
        return Response(ThreadSerializer(_thread(request.user, thread.pk)).data)


class MessageRetractApi(APIView):
    """Withdraw a reply the customer has not read yet (its author, or a supervisor)."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Withdraw a reply",
        tags=TAGS,
        request=None,
        responses={200: SecureMessageSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        message = visible_or_not_found(message_get, "message")(request.user, pk)
        retracted = message_retract(user=request.user, message=message)
        return Response(SecureMessageSerializer(retracted).data)


class AutoReplyReviewApi(APIView):
    """A supervisor's review of an automatically sent reply picked for review: ``fine``, or
    ``concern`` with a ``note``."""

    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Review an automatic reply",
        tags=TAGS,
        request=AutoReplyReviewSerializer,
        responses={200: SecureMessageSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        message = visible_or_not_found(message_get, "message")(request.user, pk)
        payload = AutoReplyReviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reviewed = auto_reply_review(user=request.user, message=message, **payload.validated_data)
        return Response(SecureMessageSerializer(reviewed).data)


class DraftDiscardApi(APIView):
    permission_classes = [CanHandleMessages]

    @extend_schema(
        summary="Discard the assistant's draft",
        tags=TAGS,
        request=None,
        responses={200: SecureDraftSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        draft = visible_or_not_found(draft_get, "draft")(request.user, pk)
        return Response(SecureDraftSerializer(draft_discard(user=request.user, draft=draft)).data)


# --- the customer side ---------------------------------------------------------------------


class IsCustomer(BasePermission):
    """A customer linked to a record; anyone else signed in finds nothing here (404). API
    tokens of customers exist only where the bank enables them (CUSTOMER_API_TOKENS)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not (is_customer(user) and can(user, Action.USE_SECURE_MESSAGES)):
            raise exceptions.NotFound("Not found.")
        if own_customer(user) is None:
            raise exceptions.NotFound("Not found.")
        return token_allows(request, view)


class CustomerThreadListApi(generics.GenericAPIView[Thread]):
    """Your secure threads with the bank; start one."""

    permission_classes = [IsCustomer]
    serializer_class = CustomerThreadSerializer

    @extend_schema(
        summary="List your secure threads",
        tags=CUSTOMER_TAGS,
        responses={200: CustomerThreadSerializer(many=True), **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(thread_list(request.user, status=""))
        return self.get_paginated_response(CustomerThreadSerializer(page, many=True).data)

    @extend_schema(
        summary="Write to the bank",
        tags=CUSTOMER_TAGS,
        request=ThreadStartSerializer,
        responses={201: CustomerThreadSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request) -> Response:
        payload = ThreadStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        thread = thread_start(user=request.user, **payload.validated_data)
        return Response(CustomerThreadSerializer(thread).data, status=status.HTTP_201_CREATED)


class CustomerThreadDetailApi(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        summary="Read one of your secure threads",
        tags=CUSTOMER_TAGS,
        responses={200: CustomerThreadDetailSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        thread = _thread(request.user, pk)
        thread_mark_read(user=request.user, thread=thread)
        context = {"messages": thread_messages(request.user, thread)}
        return Response(CustomerThreadDetailSerializer(thread, context=context).data)


class CustomerMessageCreateApi(APIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        summary="Write in one of your secure threads",
        tags=CUSTOMER_TAGS,
        request=CustomerMessageCreateSerializer,
        responses={201: CustomerMessageSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        thread = _thread(request.user, pk)
        payload = CustomerMessageCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        message = customer_message_post(
            user=request.user,
            thread=thread,
            body=payload.validated_data["body"],
            attachments=payload.validated_data.get("attachments") or [],
        )
        return Response(CustomerMessageSerializer(message).data, status=status.HTTP_201_CREATED)


class CustomerAttachmentApi(_FileDownload):
    """A file of one of your messages, or of a reply the bank sent you."""

    permission_classes = [IsCustomer]

    @extend_schema(
        summary="Download a file of one of your secure messages",
        tags=CUSTOMER_TAGS,
        responses={**_FILE, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int, attachment_id: int) -> HttpResponseBase:
        thread = _thread(request.user, pk)
        return attachment_download(request, _file(request.user, thread, attachment_id))
