"""The customers' API (under /secure/api/v1/): their own threads."""

from django.urls import path

from assistant.messaging.api import views

app_name = "secure_api"

urlpatterns = [
    path("threads/", views.CustomerThreadListApi.as_view(), name="thread_list"),
    path("threads/<int:pk>/", views.CustomerThreadDetailApi.as_view(), name="thread_detail"),
    path(
        "threads/<int:pk>/messages/",
        views.CustomerMessageCreateApi.as_view(),
        name="thread_messages",
    ),
    path(
        "threads/<int:pk>/files/<int:attachment_id>/",
        views.CustomerAttachmentApi.as_view(),
        name="thread_attachment",
    ),
]
