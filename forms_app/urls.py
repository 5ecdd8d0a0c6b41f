from django.urls import path

from forms_app import views

app_name = "forms_app"

urlpatterns = [
    path("", views.form_list, name="form_list"),
    path("<slug:slug>/", views.form_fill, name="form_fill"),
    path("<slug:slug>/preview/", views.form_preview, name="form_preview"),
]
