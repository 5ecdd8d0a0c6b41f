"""The staff API of the secure message center (under /api/v1/)."""

from django.urls import path

from assistant.messaging.api import views

urlpatterns = [
    path("threads/", views.ThreadListApi.as_view(), name="thread_list"),
    path("threads/<int:pk>/", views.ThreadDetailApi.as_view(), name="thread_detail"),
    path("threads/<int:pk>/reply/", views.ThreadReplyApi.as_view(), name="thread_reply"),
    path(
        "threads/<int:pk>/files/<int:attachment_id>/",
        views.ThreadAttachmentApi.as_view(),
        name="thread_attachment",
    ),
    path("threads/<int:pk>/notes/", views.ThreadNoteApi.as_view(), name="thread_note"),
    path("threads/<int:pk>/assign/", views.ThreadAssignApi.as_view(), name="thread_assign"),
    path("threads/<int:pk>/close/", views.ThreadCloseApi.as_view(), name="thread_close"),
    path(
        "secure-messages/<int:pk>/retract/",
        views.MessageRetractApi.as_view(),
        name="secure_message_retract",
    ),
    path(
        "secure-messages/<int:pk>/review/",
        views.AutoReplyReviewApi.as_view(),
        name="secure_message_review",
    ),
    path("drafts/<int:pk>/discard/", views.DraftDiscardApi.as_view(), name="draft_discard"),
]
