"""REST API of the assistant: conversations, messages (JSON or server-sent events), feedback,
hand-offs."""

from django.urls import path

from assistant.api.views import (
    ConversationDetailApi,
    ConversationListCreateApi,
    HandoffAssignApi,
    HandoffListCreateApi,
    HandoffResolveApi,
    MessageCreateApi,
    MessageFeedbackApi,
)

urlpatterns = [
    path("conversations/", ConversationListCreateApi.as_view(), name="conversation_list"),
    path("conversations/<int:pk>/", ConversationDetailApi.as_view(), name="conversation_detail"),
    path(
        "conversations/<int:pk>/messages/",
        MessageCreateApi.as_view(),
        name="conversation_messages",
    ),
    path("messages/<int:pk>/feedback/", MessageFeedbackApi.as_view(), name="message_feedback"),
    path("handoffs/", HandoffListCreateApi.as_view(), name="handoff_list"),
    path("handoffs/<int:pk>/assign/", HandoffAssignApi.as_view(), name="handoff_assign"),
    path("handoffs/<int:pk>/resolve/", HandoffResolveApi.as_view(), name="handoff_resolve"),
]
