from django.urls import path

from forms_app import views

app_name = "forms_app"

urlpatterns = [
    path("", views.form_list, name="form_list"),
    path("submissions/", views.submission_list, name="submission_list"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission_detail"),
    path(
        "submissions/<int:pk>/files/<int:attachment_id>/",
        views.submission_attachment,
        name="submission_attachment",
    ),
    path(
        "submissions/<int:pk>/<str:transition>/",
        views.submission_transition,
        name="submission_transition",
    ),
    path("reviews/", views.review_list, name="review_queue"),
    path("<slug:slug>/", views.form_fill, name="form_fill"),
    path("<slug:slug>/preview/", views.form_preview, name="form_preview"),
]
