from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal.identity import views as identity_views
from portal.views import access as access_views
from portal.views import auth, pages
from portal.views import mfa as mfa_views
from portal.views import records as records_views
from portal.views import sessions as session_views

portal_patterns = [
    path("", pages.dashboard, name="dashboard"),
    path("audit/", pages.audit_list, name="audit_list"),
    path("audit/verify/", records_views.audit_verify, name="audit_verify"),
    path("audit/exports/", records_views.export_list, name="export_list"),
    path("audit/retention/", records_views.retention, name="retention"),
    path("audit/holds/<str:pk>/release/", records_views.hold_release, name="hold_release"),
    path("audit/erasure/", records_views.erasure, name="erasure"),
    path(
        "audit/erasure/<str:pk>/certificate.json",
        records_views.erasure_certificate,
        name="erasure_certificate",
    ),
    path(
        "audit/exports/<str:pk>/download/",
        records_views.export_download,
        name="export_download",
    ),
    path("audit/access/", access_views.access_review, name="access_review"),
    path("audit/access.csv", access_views.access_review_csv, name="access_review_csv"),
    path(
        "audit/access/<str:user_id>/review/",
        access_views.access_review_record_view,
        name="access_review_record",
    ),
    path(
        "audit/access/reviews/<str:pk>/resolve/",
        access_views.access_review_resolve_view,
        name="access_review_resolve",
    ),
]

api_v1_patterns = [
    path("", include("portal.api.urls")),
    path("", include("knowledge.api.urls")),
    path("", include("knowledge.customers.api.urls")),
    path("", include("forms_app.api.urls")),
    path("", include("assistant.api.urls")),
    path("", include("assistant.messaging.api.urls")),
]

urlpatterns = [
    path("", include((portal_patterns, "portal"))),
    path("knowledge/", include("knowledge.urls")),
    path("customers/", include("knowledge.customers.urls")),
    path("forms/", include("forms_app.urls")),
    path("assistant/", include("assistant.urls")),
    path("messages/", include("assistant.messaging.urls")),
    # The customer area: customers reach nothing else (portal.middleware.CustomerAreaMiddleware).
    path("secure/api/v1/", include("assistant.messaging.api.customer_urls")),
    path("secure/", include("assistant.messaging.secure_urls")),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path("accounts/mfa/", mfa_views.mfa_overview, name="mfa_overview"),
    path("accounts/mfa/enrol/", mfa_views.mfa_enrol, name="mfa_enrol"),
    path("accounts/mfa/verify/", mfa_views.mfa_verify, name="mfa_verify"),
    path("accounts/mfa/recovery-codes/", mfa_views.mfa_recovery_codes, name="mfa_recovery_codes"),
    path("accounts/sessions/", session_views.session_list, name="session_list"),
    path("accounts/sessions/<str:pk>/end/", session_views.session_end_view, name="session_end"),
    path(
        "accounts/sessions/end-others/",
        session_views.session_end_others,
        name="session_end_others",
    ),
    path("accounts/sso/login/", identity_views.sso_login, name="sso_login"),
    path("accounts/sso/callback/", identity_views.sso_callback, name="sso_callback"),
    # Provisioning by the identity provider (SCIM 2.0; bearer token, docs/identity.md).
    path("scim/v2", identity_views.scim_endpoint, name="scim_root"),
    path("scim/v2/<path:path>", identity_views.scim_endpoint, name="scim"),
    path("accounts/password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # Customer records became their own app (label "customers"): old admin links still work.
    re_path(
        r"^admin/knowledge/(?P<rest>(?:customer|account|transaction|case)/.*)$",
        RedirectView.as_view(url="/admin/customers/%(rest)s", permanent=True, query_string=True),
    ),
    path("admin/login/", auth.admin_login, name="admin_login"),  # the portal's sign-in
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1_patterns, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI sets inline styles (never scripts): allowed on this page only.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
]

handler400 = "portal.views.pages.bad_request"
handler403 = "portal.views.pages.permission_denied"
handler404 = "portal.views.pages.page_not_found"
handler500 = "portal.views.pages.server_error"
