from django.urls import path

from forms_app.api.views import (
    FormDetailApi,
    FormListApi,
    FormPrefillApi,
    SubmissionCreateApi,
    SubmissionDetailApi,
    SubmissionFileApi,
    SubmissionTransitionApi,
)
from forms_app.workflow import TRANSITIONS

urlpatterns = [
    path("forms/", FormListApi.as_view(), name="form_list"),
    path("forms/<slug:slug>/", FormDetailApi.as_view(), name="form_detail"),
    path("forms/<slug:slug>/prefill/", FormPrefillApi.as_view(), name="form_prefill"),
    path("submissions/", SubmissionCreateApi.as_view(), name="submission_list"),
    path("submissions/<int:pk>/", SubmissionDetailApi.as_view(), name="submission_detail"),
    path("submissions/<int:pk>/files/", SubmissionFileApi.as_view(), name="submission_file"),
    # One route per transition of the workflow table: /submissions/<pk>/start-review/ ...
    *(
        path(
            f"submissions/<int:pk>/{row.slug}/",
            SubmissionTransitionApi.as_view(transition=row.name),
            name=f"submission_{row.name}",
        )
        for row in TRANSITIONS.values()
    ),
]
