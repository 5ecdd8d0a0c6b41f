from django.urls import path

from forms_app.api.views import FormDetailApi, FormListApi

urlpatterns = [
    path("forms/", FormListApi.as_view(), name="form_list"),
    path("forms/<slug:slug>/", FormDetailApi.as_view(), name="form_detail"),
]
