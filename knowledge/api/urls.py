from django.urls import path

from knowledge.api.views import (
    CollectionListCreateApi,
    DocumentArchiveApi,
    DocumentDetailApi,
    DocumentListCreateApi,
    DocumentReprocessApi,
    DocumentRestoreApi,
    SearchApi,
)

urlpatterns = [
    path("collections/", CollectionListCreateApi.as_view(), name="collection_list"),
    path("documents/", DocumentListCreateApi.as_view(), name="document_list"),
    path("documents/<int:pk>/", DocumentDetailApi.as_view(), name="document_detail"),
    path(
        "documents/<int:pk>/reprocess/",
        DocumentReprocessApi.as_view(),
        name="document_reprocess",
    ),
    path("documents/<int:pk>/archive/", DocumentArchiveApi.as_view(), name="document_archive"),
    path("documents/<int:pk>/restore/", DocumentRestoreApi.as_view(), name="document_restore"),
    path("search/", SearchApi.as_view(), name="search"),
]
