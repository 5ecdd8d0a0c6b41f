"""The customer area (/secure/): its own sign-in, pages and layout."""

from django.urls import path

from assistant.messaging.views import customer, secure_auth

app_name = "secure"

urlpatterns = [
    path("", customer.home, name="home"),
    path("login/", secure_auth.secure_login, name="login"),
    path("login/code/", secure_auth.secure_code, name="code"),
    path("logout/", secure_auth.secure_logout, name="logout"),
    path("security/", secure_auth.security, name="security"),
    path("invitation/password/", secure_auth.invitation_password, name="invitation_password"),
    path("invitation/<str:token>/", secure_auth.invitation, name="invitation"),
    path("records/", customer.records, name="records"),
    path("threads/new/", customer.thread_new, name="thread_new"),
    path("threads/<str:pk>/", customer.thread, name="thread"),
    path("threads/<str:pk>/files/<str:attachment_id>/", customer.attachment, name="attachment"),
    path("forms/<str:pk>/", customer.form_confirm, name="form"),
]
