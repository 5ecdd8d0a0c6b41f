from django.urls import path

from knowledge import views

app_name = "knowledge"

urlpatterns = [
    path("search/", views.search, name="search"),
    path("documents/", views.document_list_view, name="document_list"),
    path("documents/upload/", views.document_upload, name="document_upload"),
    path("documents/<int:pk>/", views.document_detail, name="document_detail"),
    path("documents/<int:pk>/replace/", views.document_replace, name="document_replace"),
    path("documents/<int:pk>/reprocess/", views.document_reprocess_view, name="document_reprocess"),
    path("documents/<int:pk>/archive/", views.document_archive_view, name="document_archive"),
    path("documents/<int:pk>/restore/", views.document_restore_view, name="document_restore"),
    path("documents/<int:pk>/delete/", views.document_delete_view, name="document_delete"),
]
