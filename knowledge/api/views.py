"""The knowledge API: collections, documents (upload, detail, reprocess, archive, restore,
delete) and search."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge.api.serializers import (
    CollectionCreateSerializer,
    CollectionSerializer,
    DocumentArchiveSerializer,
    DocumentDeleteQuerySerializer,
    DocumentDetailSerializer,
    DocumentListQuerySerializer,
    DocumentReprocessSerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    SearchQuerySerializer,
    SearchResponseSerializer,
)
from knowledge.models import Collection, Document
from knowledge.permissions import (
    can_create_collection,
    can_manage_collection,
    collections_managed_by,
)
from knowledge.selectors import (
    chunk_search,
    collection_list,
    document_get,
    document_list,
    managed_document_get,
)
from knowledge.services import (
    collection_create,
    document_archive,
    document_create,
    document_delete,
    document_reprocess,
    document_restore,
)
from portal.api.permissions import requires
from portal.api.shortcuts import visible_or_not_found
from portal.permissions import Action
from portal.types import AnyUser
from portal.validation import parse_id

CanSearchKnowledge = requires(Action.SEARCH_KNOWLEDGE)
TAGS = ["knowledge"]

# The same words whether the collection is missing, unreadable or only not manageable:
# the answer must not reveal that a collection the user may not read exists.
COLLECTION_NOT_AVAILABLE = "This collection does not exist or you may not add documents to it."

_ERRORS = {
    400: OpenApiResponse(description="Validation error: {message, extra: {fields}}"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="Not allowed"),
}
_NOT_FOUND = {404: OpenApiResponse(description="No such document, or not readable by you")}
_NOT_MANAGED = {
    404: OpenApiResponse(description="No such document, or not in a collection you manage")
}


_document_or_404 = visible_or_not_found(document_get, "document")
# Archive, restore and delete: a document the user does not manage is missing to them.
_managed_document_or_404 = visible_or_not_found(managed_document_get, "document")


def _document_detail(document: Document) -> Response:
    document = Document.objects.select_related("collection", "archived_by").get(pk=document.pk)
    return Response(DocumentDetailSerializer(document).data)


def _managed_collection(user: AnyUser, key: str) -> Collection:
    key = key.strip()
    collection_id = parse_id(key)
    lookup = Q(slug=key) if collection_id is None else Q(slug=key) | Q(pk=collection_id)
    collection = collections_managed_by(user).filter(lookup).first()
    if collection is None:
        raise exceptions.ValidationError({"collection": [COLLECTION_NOT_AVAILABLE]})
    return collection


class CollectionListCreateApi(APIView):
    """Collections you may read; content managers and admins create new ones."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="List readable collections",
        tags=TAGS,
        responses={200: CollectionSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        collections = collection_list(request.user).order_by("name")
        return Response(CollectionSerializer(collections, many=True).data)

    @extend_schema(
        summary="Create a collection",
        tags=TAGS,
        request=CollectionCreateSerializer,
        responses={201: CollectionSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        if not can_create_collection(request.user):
            raise exceptions.PermissionDenied("Your role may not create collections.")
        serializer = CollectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        collection = collection_create(actor=request.user, **serializer.validated_data)
        # What was created, as it was sent: an administrator may create a collection for
        # other roles that they do not read themselves (a content manager may not:
        # collection_creator_check), so it is not read back through collection_list.
        collection.document_count = 0  # type: ignore[attr-defined]
        collection.manageable = can_manage_collection(request.user, collection)  # type: ignore[attr-defined]
        return Response(CollectionSerializer(collection).data, status=status.HTTP_201_CREATED)


class DocumentListCreateApi(generics.GenericAPIView[Document]):
    """Documents you may read, most recently updated first; upload to a collection you manage."""

    permission_classes = [CanSearchKnowledge]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = DocumentSerializer

    def get_queryset(self) -> QuerySet[Document]:
        query = DocumentListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return document_list(
            self.request.user,
            collection=query.validated_data.get("collection") or None,
            status=query.validated_data.get("status") or "",
            archived=query.validated_data.get("archived", False),
        )

    @extend_schema(
        summary="List readable documents",
        tags=TAGS,
        parameters=[DocumentListQuerySerializer],
        responses={200: DocumentSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DocumentSerializer(page, many=True).data)

    @extend_schema(
        summary="Upload a document",
        tags=TAGS,
        request=DocumentUploadSerializer,
        responses={201: DocumentDetailSerializer, **_ERRORS},
        description="Upload a document. A file that is too large or not what it claims to be "
        "is recorded with status `failed` and the reason in `error`.",
    )
    def post(self, request: Request) -> Response:
        serializer = DocumentUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        collection = _managed_collection(request.user, data["collection"])
        upload = data["file"]
        document = document_create(
            actor=request.user,
            collection=collection,
            title=data["title"],
            file=upload,
            source_url=data["source_url"] or "",
            effective_date=data["effective_date"],
            content_type=getattr(upload, "content_type", None),
        )
        document = Document.objects.select_related("collection").get(pk=document.pk)
        return Response(DocumentDetailSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailApi(APIView):
    """One document you may read, with its versions; deleted by those who manage it."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Get a document",
        tags=TAGS,
        responses={200: DocumentDetailSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        document = _document_or_404(request.user, pk)
        return Response(DocumentDetailSerializer(document).data)

    @extend_schema(
        summary="Delete a document",
        tags=TAGS,
        parameters=[DocumentDeleteQuerySerializer],
        responses={
            204: OpenApiResponse(description="Deleted"),
            **_ERRORS,
            **_NOT_MANAGED,
        },
        description="Delete a document of a collection you manage for good: every version and "
        "its stored file, and its chunks. Audited (`document.deleted`: title, collection, "
        "SHA-256 of each version, `reason`). Archive it instead to keep it for the records.",
    )
    def delete(self, request: Request, pk: int) -> Response:
        document = _managed_document_or_404(request.user, pk)
        query = DocumentDeleteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        reason = query.validated_data["reason"]
        document_delete(actor=request.user, document=document, reason=reason)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentArchiveApi(APIView):
    """Take a document of a collection you manage out of search and answers at once."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Archive a document",
        tags=TAGS,
        request=DocumentArchiveSerializer,
        responses={200: DocumentDetailSerializer, **_ERRORS, **_NOT_MANAGED},
        description="Out of search and the assistant's answers at once; kept (versions, files, "
        "chunks) for the records and restorable. 400 when it is already archived.",
    )
    def post(self, request: Request, pk: int) -> Response:
        document = _managed_document_or_404(request.user, pk)
        serializer = DocumentArchiveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = document_archive(
            actor=request.user, document=document, reason=serializer.validated_data["reason"]
        )
        return _document_detail(document)


class DocumentRestoreApi(APIView):
    """Make an archived document of a collection you manage searchable again at once."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Restore an archived document",
        tags=TAGS,
        request=None,
        responses={200: DocumentDetailSerializer, **_ERRORS, **_NOT_MANAGED},
        description="Searchable again at once, as it was archived (nothing is re-ingested). "
        "400 when it is not archived.",
    )
    def post(self, request: Request, pk: int) -> Response:
        document = _managed_document_or_404(request.user, pk)
        document = document_restore(actor=request.user, document=document)
        return _document_detail(document)


class DocumentReprocessApi(APIView):
    """Queue the newest version of a document you manage for processing again."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Reprocess a document",
        tags=TAGS,
        request=None,
        responses={202: DocumentReprocessSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def post(self, request: Request, pk: int) -> Response:
        document = _document_or_404(request.user, pk)
        document = document_reprocess(actor=request.user, document=document)
        return Response({"status": document.status}, status=status.HTTP_202_ACCEPTED)


class SearchApi(APIView):
    """Hybrid search (meaning and keywords) over the chunks you may read."""

    permission_classes = [CanSearchKnowledge]

    @extend_schema(
        summary="Search the knowledge base",
        tags=TAGS,
        parameters=[SearchQuerySerializer],
        responses={200: SearchResponseSerializer, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        result = chunk_search(
            request.user,
            data["q"],
            k=data["k"],
            collections=data["collection"] or None,
            mode=data["mode"],
        )
        return Response(SearchResponseSerializer(result).data)
