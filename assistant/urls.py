"""Portal pages of the assistant: chat, citation previews, hand-off queue."""

from django.urls import path

from assistant import views

app_name = "assistant"

urlpatterns = [
    path("", views.chat_index, name="chat"),
    path("new/", views.conversation_create_view, name="conversation_create"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/ask/", views.ask, name="ask"),
    path("c/<int:pk>/escalate/", views.escalate, name="escalate"),
    path("messages/<int:pk>/fragment/", views.message_fragment, name="message_fragment"),
    path("messages/<int:pk>/citations/<int:n>/", views.citation_preview, name="citation_preview"),
    path("messages/<int:pk>/feedback/", views.feedback, name="feedback"),
    path("answers/<int:pk>/explain/", views.answer_explain_view, name="answer_explain"),
    path("handoffs/", views.handoff_queue_view, name="handoff_queue"),
    path("handoffs/<int:pk>/assign/", views.handoff_assign_view, name="handoff_assign"),
    path("handoffs/<int:pk>/resolve/", views.handoff_resolve_view, name="handoff_resolve"),
]
