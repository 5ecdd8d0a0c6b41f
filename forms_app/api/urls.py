from django.urls import path

from forms_app.api.views import (
    FormDetailApi,
    FormListApi,
    FormPrefillApi,
    SubmissionCreateApi,
    SubmissionDetailApi,
    SubmissionFileApi,
    transition_view,
)

urlpatterns = [
    path("forms/", FormListApi.as_view(), name="form_list"),
    path("forms/<slug:slug>/", FormDetailApi.as_view(), name="form_detail"),
    path("forms/<slug:slug>/prefill/", FormPrefillApi.as_view(), name="form_prefill"),
    path("submissions/", SubmissionCreateApi.as_view(), name="submission_list"),
    path("submissions/<int:pk>/", SubmissionDetailApi.as_view(), name="submission_detail"),
    path("submissions/<int:pk>/files/", SubmissionFileApi.as_view(), name="submission_file"),
    *(
        path(
            f"submissions/<int:pk>/{name.replace('_', '-')}/",
            transition_view(name),
            name=f"submission_{name}",
        )
        for name in ("submit", "start_review", "approve", "reject", "withdraw")
    ),
]
