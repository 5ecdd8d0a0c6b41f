"""The staff side of the secure message center (/messages/)."""

from django.urls import path

from assistant.messaging.views import staff

app_name = "messaging"

urlpatterns = [
    path("", staff.inbox, name="inbox"),
    path("<str:pk>/", staff.thread, name="thread"),
    path("<str:pk>/reply/", staff.reply, name="reply"),
    path("<str:pk>/files/<str:attachment_id>/", staff.attachment, name="attachment"),
    path("<str:pk>/note/", staff.note, name="note"),
    path("<str:pk>/assign/", staff.assign, name="assign"),
    path("<str:pk>/close/", staff.close, name="close"),
    path("replies/<str:pk>/retract/", staff.retract, name="retract"),
    path("replies/<str:pk>/review/", staff.review, name="review"),
    path("drafts/<str:pk>/discard/", staff.discard, name="discard"),
    path("invite/<str:customer_id>/", staff.invite, name="invite"),
    path(
        "authenticator/<str:customer_id>/remove/",
        staff.authenticator_remove,
        name="authenticator_remove",
    ),
]
