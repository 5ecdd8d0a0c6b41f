"""Settings shared by every environment; each value comes from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.logs import logging_config
from portal.settings.storage import file_storage

# Lets admin.ModelAdmin[Model] and friends be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_email",
    "portal.apps.PortalConfig",
    "knowledge",
    "knowledge.customers.apps.CustomersConfig",
    "forms_app",
    "assistant",
    "assistant.messaging.apps.MessagingConfig",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "portal.middleware.RequestContextMiddleware",
    # /healthz, /readyz, /metrics: before host checks, HTTPS redirect, sessions, sign-in.
    "portal.health.ProbeMiddleware",
    "portal.middleware.RequestSizeLimitMiddleware",
    "portal.middleware.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # 400 for a NUL or a lone surrogate in the query string or form fields.
    "portal.validation.InvalidInputMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session limits (after messages: it says why a session ended).
    "portal.middleware.SessionControlMiddleware",
    # A password sign-in of an account with MFA needs its code before anything else.
    "portal.middleware.MfaMiddleware",
    # Customers reach /secure/ only: every other page answers 404 to them.
    "portal.middleware.CustomerAreaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # With single sign-on: the provider's origin in form-action (sign-out redirects there).
    "portal.middleware.SsoFormActionMiddleware",
    # Last (but for the metrics' timer), so that it sees failed logins after every other
    # layer ran.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    }
]

# Database: DATABASE_URL always wins; environments without one decide their fallback.
DATABASE_URL = env.str("DATABASE_URL", default="")
DATABASES = {"default": env.db_url_config(DATABASE_URL)} if DATABASE_URL else {}
for _db in DATABASES.values():
    _db.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    _db["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "login"

# API tokens: days until a new token expires unless another expiry is given, and the most
# allowed; scopes a token gets when none are named (docs/api.md).
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", default=90)
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
API_TOKEN_DEFAULT_SCOPES = env.list("API_TOKEN_DEFAULT_SCOPES", default=["read"])

# Multi-factor authentication of local accounts (portal/mfa.py, docs/identity.md): the
# roles whose local accounts must enrol an authenticator; the name the app shows.
MFA_REQUIRED_ROLES = env.list("MFA_REQUIRED_ROLES", default=["admin", "compliance"])
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Enterprise Portal")
# The admin never shows a device's key, QR code or recovery codes (only who has one).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Single sign-on (OpenID Connect, docs/identity.md): on when OIDC_ISSUER is set.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid email profile groups")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_DISPLAY_NAME = env.str("OIDC_DISPLAY_NAME", default="single sign-on")
# Signature algorithms accepted for ID tokens (never "none" or a MAC with the client secret).
OIDC_SIGNING_ALGORITHMS = env.list("OIDC_SIGNING_ALGORITHMS", default=["RS256", "PS256", "ES256"])
OIDC_CLOCK_SKEW_SECONDS = env.int("OIDC_CLOCK_SKEW_SECONDS", default=60)
OIDC_TIMEOUT_SECONDS = env.int("OIDC_TIMEOUT_SECONDS", default=10)
# Group -> role[:region] mappings seeded into the database (the admin edits them after):
# "portal-agents-north=agent:north,portal-admins=admin".
OIDC_GROUP_MAP = env.str("OIDC_GROUP_MAP", default="")
# Provisioning (SCIM 2.0, /scim/v2/): the ID token claim that equals a provisioned account's
# SCIM externalId, which links the account at its first single sign-on (Entra ID: "oid";
# Okta and Keycloak: "sub"). Empty: provisioned accounts are never linked.
OIDC_SCIM_MATCH_CLAIM = env.str("OIDC_SCIM_MATCH_CLAIM", default="sub")
# The roles SCIM group membership may give (its token is a bearer secret: by default it
# cannot make administrators; map admin groups for single sign-on, or list admin here).
SCIM_GRANTABLE_ROLES = env.list(
    "SCIM_GRANTABLE_ROLES",
    default=["agent", "supervisor", "compliance", "content_manager"],
)
# When false, single sign-on never creates accounts: only provisioned (SCIM) or existing
# linked accounts sign in (recommended once SCIM provisions every member of staff).
OIDC_JIT_ACCOUNTS = env.bool("OIDC_JIT_ACCOUNTS", default=True)
# The most resources one SCIM list answers with (filter.maxResults).
SCIM_MAX_RESULTS = env.int("SCIM_MAX_RESULTS", default=200)
# When set, only these local accounts may sign in with a password (break-glass accounts);
# everyone else uses single sign-on. Empty: every local account may.
LOCAL_LOGIN_ALLOWED = env.list("LOCAL_LOGIN_ALLOWED", default=[])

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# A session ends after this many minutes without a request, and this many hours after its
# sign-in whatever the activity (portal.middleware.SessionControlMiddleware). 0: no limit.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)
SESSION_ABSOLUTE_HOURS = env.int("SESSION_ABSOLUTE_HOURS", default=8)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Login throttling (django-axes, portal/lockout.py): LOGIN_FAILURE_LIMIT failures of one user
# name from any address lock that user name (a successful sign-in resets its own count only);
# LOGIN_IP_FAILURE_LIMIT failures from one address, any user names, lock that address.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "portal.lockout.PortalLockoutHandler"
# axes.W006 warns that "username" alone lets an attacker rotating user agents or cookies go
# unthrottled per address: PortalLockoutHandler counts per address itself (with its own,
# higher limit). With "ip_address" among the parameters, a successful sign-in would reset
# the address's count for every user name again (the bypass this design closes).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_LOCKOUT_CALLABLE = "portal.views.auth.lockout_response"
AXES_VERBOSE = False
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where uploaded documents, submission attachments and exports are stored (docs/operations.md,
# "File storage"): the local disk (MEDIA_ROOT; one machine, the embedded default), Azure Blob
# Storage or an S3-compatible store, so that web processes and workers on several machines
# share them. Blobs stay private: every download goes through the portal's checks.
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
STORAGES = {
    "default": file_storage(STORAGE_BACKEND, env),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Every asset is local: nothing loads from outside the portal.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.CanUseApi"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies checked for NUL, lone surrogates and depth (portal/validation.py).
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_USER", default="600/min")},
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Enterprise Portal API",
    "DESCRIPTION": "REST API for integrations: knowledge, customers, forms, assistant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids and tags from the path after /api/ (the customers' API is under
    # /secure/api/v1/, so the common prefix alone would no longer be /api/).
    "SCHEMA_PATH_PREFIX": r"/api/",
    "ENUM_NAME_OVERRIDES": {
        "SecureThreadCategoryEnum": "assistant.messaging.models.Category",
        "SecureThreadStatusEnum": "assistant.messaging.models.ThreadStatus",
        "SecureDraftStatusEnum": "assistant.messaging.models.DraftStatus",
        "DocumentStatusEnum": "knowledge.models.DocumentStatus",
    },
    # Every operation's common errors (400/401/403/429, 404 for pages, 413 for bodies), each
    # with the error body {"message", "extra"} (portal/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.document_errors",
    ],
}

# Celery: configured from Django settings under the CELERY_ namespace.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With acks_late, a task must be redelivered only after it could have finished.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 60}
CELERY_TASK_TRACK_STARTED = True

# Demo data
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="")  # seed_demo refuses to run without one

# Logs (portal/logs.py): every record carries request_id, user_id and route (the URL name)
# while a request is handled; LOG_FORMAT "json" (production's default) or "text".
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)
# Celery workers log through the same handler (and format) instead of their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Request ids (portal/middleware.py): ours (uuid4) unless X-Request-ID comes from a trusted
# proxy: TRUSTED_PROXY_REQUEST_ID "0" (default: never), "1" (any client: only when a proxy
# always sets or strips the header) or proxy addresses/networks ("10.0.0.5,10.1.0.0/16").
_trusted_request_id = env.str("TRUSTED_PROXY_REQUEST_ID", default="0").strip()
TRUSTED_PROXY_REQUEST_ID: bool | list[str] = [
    entry.strip() for entry in _trusted_request_id.split(",") if entry.strip()
]
if _trusted_request_id.lower() in {"", "0", "false", "no", "off"}:
    TRUSTED_PROXY_REQUEST_ID = False
elif _trusted_request_id.lower() in {"1", "true", "yes", "on"}:
    TRUSTED_PROXY_REQUEST_ID = True

# Operations (docs/operations.md): /healthz, /readyz, /metrics (portal/health.py).
# /metrics answers a bearer METRICS_TOKEN or a client in METRICS_ALLOWED_IPS; neither: 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS: list[str] = env.list("METRICS_ALLOWED_IPS", default=[])
METRICS_CELERY_QUEUES: list[str] = env.list("METRICS_CELERY_QUEUES", default=["celery"])
# A Celery worker serves its own metrics on this port (0: off), see docs/operations.md.
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
CELERY_METRICS_ADDRESS = env.str("CELERY_METRICS_ADDRESS", default="127.0.0.1")

# Request bodies (portal.middleware.RequestSizeLimitMiddleware answers 413 above them): a
# body without files at most DATA_UPLOAD_MAX_MEMORY_SIZE; an upload at most the largest file
# (KNOWLEDGE_MAX_UPLOAD_BYTES) plus that. Uploaded files above FILE_UPLOAD_MAX_MEMORY_SIZE
# are spooled to a temporary file instead of memory ...
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=1000)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=20)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
# ... and the spool on disk is encrypted under a key held in memory for that upload alone
# (portal/uploads.py), never a plaintext copy of a customer's document.
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "portal.uploads.EncryptedTemporaryFileUploadHandler",
]

# Retention (docs/records.md): days each class of records is kept before the daily purge
# deletes it (0: forever); records under a legal hold are never purged.
RETENTION_DAYS = {
    "conversations": env.int("RETENTION_CONVERSATIONS_DAYS", default=2555),  # 7 years
    "submissions": env.int("RETENTION_SUBMISSIONS_DAYS", default=2555),
    # Closed secure threads, counted from their last message (communications with customers).
    "secure_threads": env.int("RETENTION_SECURE_THREADS_DAYS", default=2555),
    "document_versions": env.int("RETENTION_DOCUMENT_VERSIONS_DAYS", default=2555),
    "sessions": env.int("RETENTION_SESSIONS_DAYS", default=90),
    "exports": env.int("RETENTION_EXPORTS_DAYS", default=30),
    "login_failures": env.int("RETENTION_LOGIN_FAILURES_DAYS", default=30),
}

# Erasure of a customer's personal data (docs/records.md): refused until this many days
# after the relationship ended (Customer.relationship_ended), for the records a bank must
# keep after it (AML: five years), and while a legal hold applies.
ERASURE_OBLIGATION_DAYS = env.int("ERASURE_OBLIGATION_DAYS", default=1827)

# The audit chain's anchors (portal/audit_chain.py, docs/records.md): HMAC keys (the first
# signs, all verify; default: derived from SECRET_KEY, set your own in production, kept
# away from the database's administrators), an append-only file that receives a copy of
# each anchor (empty: none), and how often the beat task writes one.
AUDIT_ANCHOR_KEYS = env.list("AUDIT_ANCHOR_KEYS", default=[])
AUDIT_ANCHOR_PATH = env.str("AUDIT_ANCHOR_PATH", default="")
AUDIT_ANCHOR_MINUTES = env.int("AUDIT_ANCHOR_MINUTES", default=60)

CELERY_BEAT_SCHEDULE = {
    "housekeeping": {"task": "portal.tasks.housekeeping_task", "schedule": timedelta(hours=1)},
    # Seal any audit event left unsealed (a crash between commit and sealing), then anchor
    # the chain's head.
    "records-retention": {
        "task": "portal.records.tasks.retention_purge_task",
        "schedule": timedelta(days=1),
    },
    "audit-anchor": {
        "task": "portal.tasks.audit_anchor_task",
        "schedule": timedelta(minutes=AUDIT_ANCHOR_MINUTES),
    },
}

# Knowledge: embeddings, ingestion and search
EMBEDDING_BACKEND = env.str("EMBEDDING_BACKEND", default="local")  # local | onnx | openai
# Where EMBEDDING_BACKEND=onnx keeps the int8 model it exports from the wheel on first use.
EMBEDDING_ONNX_DIR = Path(env.str("EMBEDDING_ONNX_DIR", default=str(VAR_DIR / "models")))
EMBEDDING_MODEL = env.str("EMBEDDING_MODEL", default="all-MiniLM-L6-v2")
EMBEDDING_DIMENSIONS = env.int("EMBEDDING_DIMENSIONS", default=384)
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=32)
# Threads the local model may use (torch or ONNX Runtime). 0: in a Celery prefork pool
# the cores divided among its processes, elsewhere the library's default, one per core
# (portal.startup.compute_threads). Web processes embed one short query at a time: 1 keeps
# their latency steady under load (gunicorn.conf.py sets it).
EMBEDDING_TORCH_THREADS = env.int("EMBEDDING_TORCH_THREADS", default=0)
# Load the model when a web or worker process starts (portal/startup.py) rather than on the
# first search; /readyz reports "not ready" until it is loaded. Off for tests and commands.
EMBEDDING_WARM_ON_START = env.bool("EMBEDDING_WARM_ON_START", default=False)
# A web process warms up in a thread and serves meanwhile (the dev stack's runserver).
WARM_UP_IN_BACKGROUND = env.bool("WARM_UP_IN_BACKGROUND", default=False)
EMBEDDING_TIMEOUT_SECONDS = env.float("EMBEDDING_TIMEOUT_SECONDS", default=30.0)
EMBEDDING_MAX_RETRIES = env.int("EMBEDDING_MAX_RETRIES", default=3)
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="")
AZURE_OPENAI_API_KEY = env.str("AZURE_OPENAI_API_KEY", default="")
AZURE_OPENAI_API_VERSION = env.str("AZURE_OPENAI_API_VERSION", default="2024-10-21")

KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
# How much work one document may cost a worker, each checked before the step it protects
# (docs/knowledge.md, "Limits"): a Word file's unpacked size (by its ZIP directory; large
# parts packed over 100:1 are refused too), paragraphs + table cells of a Word file and
# elements of an HTML page, the size of a Markdown or plain-text file and the text any file
# yields, and a PDF's pages and drawing operations.
KNOWLEDGE_MAX_UNPACKED_BYTES = env.int(
    "KNOWLEDGE_MAX_UNPACKED_BYTES", default=4 * KNOWLEDGE_MAX_UPLOAD_BYTES
)
KNOWLEDGE_MAX_ELEMENTS = env.int("KNOWLEDGE_MAX_ELEMENTS", default=100_000)
KNOWLEDGE_MAX_TEXT_BYTES = env.int("KNOWLEDGE_MAX_TEXT_BYTES", default=2 * 1024 * 1024)
KNOWLEDGE_MAX_PDF_PAGES = env.int("KNOWLEDGE_MAX_PDF_PAGES", default=2000)
KNOWLEDGE_MAX_PDF_OPERATIONS = env.int("KNOWLEDGE_MAX_PDF_OPERATIONS", default=3_000_000)
# Runs of the ingestion task per version (a worker killed or timed out counts) before the
# document is marked failed instead of queued again.
KNOWLEDGE_MAX_INGEST_ATTEMPTS = env.int("KNOWLEDGE_MAX_INGEST_ATTEMPTS", default=3)
# Cross-document batching (experimental, off: it measured no gain on two CPU cores, and its
# failure paths are not all handled yet, docs/knowledge.md): an ingestion run of a small
# uploaded file takes along up to this many - 1 other pending uploaded files (each at most
# KNOWLEDGE_INGEST_BATCH_FILE_BYTES, together at most KNOWLEDGE_INGEST_BATCH_BYTES) and
# embeds them in one batch; 1 turns it off.
KNOWLEDGE_INGEST_BATCH_DOCUMENTS = env.int("KNOWLEDGE_INGEST_BATCH_DOCUMENTS", default=1)
KNOWLEDGE_INGEST_BATCH_FILE_BYTES = env.int("KNOWLEDGE_INGEST_BATCH_FILE_BYTES", default=256 * 1024)
KNOWLEDGE_INGEST_BATCH_BYTES = env.int("KNOWLEDGE_INGEST_BATCH_BYTES", default=2 * 1024 * 1024)
# Hosts documents may be fetched from by URL ("intranet.bank.example", ".bank.example");
# empty: URL ingestion is off.
KNOWLEDGE_URL_ALLOWED_HOSTS = env.list("KNOWLEDGE_URL_ALLOWED_HOSTS", default=[])
KNOWLEDGE_URL_TIMEOUT_SECONDS = env.float("KNOWLEDGE_URL_TIMEOUT_SECONDS", default=20.0)
KNOWLEDGE_CHUNK_TOKENS = env.int("KNOWLEDGE_CHUNK_TOKENS", default=200)
KNOWLEDGE_CHUNK_OVERLAP_TOKENS = env.int("KNOWLEDGE_CHUNK_OVERLAP_TOKENS", default=40)
KNOWLEDGE_TEXT_SEARCH_CONFIG = env.str("KNOWLEDGE_TEXT_SEARCH_CONFIG", default="english")
# 1000 (pgvector's maximum; larger values are capped): at one million chunks with a reader
# of 10% of them (bench/search.py), 400 recalled 0.93 of the exact nearest 10 and 1000
# 0.98 (worst query 0.80), for ~5 ms more per dense query at p50.
KNOWLEDGE_HNSW_EF_SEARCH = env.int("KNOWLEDGE_HNSW_EF_SEARCH", default=1000)
# How far a filtered HNSW scan goes before search falls back to an exact scan.
KNOWLEDGE_HNSW_MAX_SCAN_TUPLES = env.int("KNOWLEDGE_HNSW_MAX_SCAN_TUPLES", default=20000)
KNOWLEDGE_SEARCH_MAX_K = 50
# BM25 parameters: the Anserini/BEIR defaults, not tuned to any one data set.
KNOWLEDGE_BM25_K1 = env.float("KNOWLEDGE_BM25_K1", default=0.9)
KNOWLEDGE_BM25_B = env.float("KNOWLEDGE_BM25_B", default=0.4)
# Hybrid search: "convex" (a convex combination of normalised scores, weighted per
# collection: fitted from its golden questions, else KNOWLEDGE_FUSION_DENSE_WEIGHT) or
# "rrf" (reciprocal rank fusion with KNOWLEDGE_RRF_K, the fusion before golden questions).
KNOWLEDGE_FUSION = env.str("KNOWLEDGE_FUSION", default="convex")
if KNOWLEDGE_FUSION not in ("convex", "rrf"):
    raise ImproperlyConfigured("KNOWLEDGE_FUSION must be convex or rrf.")
# Both sides equal: the symmetric choice, not tuned to a data set (docs/benchmarks.md).
KNOWLEDGE_FUSION_DENSE_WEIGHT = env.float("KNOWLEDGE_FUSION_DENSE_WEIGHT", default=0.5)
if not 0.0 <= KNOWLEDGE_FUSION_DENSE_WEIGHT <= 1.0:
    raise ImproperlyConfigured("KNOWLEDGE_FUSION_DENSE_WEIGHT must be between 0 and 1.")
KNOWLEDGE_RRF_K = env.int("KNOWLEDGE_RRF_K", default=60)
CELERY_BEAT_SCHEDULE.update(
    {
        "knowledge-requeue-stale": {
            "task": "knowledge.tasks.document_requeue_stale_task",
            "schedule": timedelta(minutes=10),
        },
        "knowledge-reindex": {
            "task": "knowledge.tasks.documents_reindex_task",
            "schedule": timedelta(hours=1),
        },
    }
)

# Customer records: Fernet keys for encrypted columns, newest first (the first encrypts,
# all decrypt; run manage.py rotate_field_keys after adding a key, then drop the old one).
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Assistant: the language model over the OpenAI protocol (reuses OPENAI_* / AZURE_OPENAI_*
# above; with none of them set, the built-in extractive answerer is used instead).
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=30.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=2)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=800)  # tokens per answer
ASSISTANT_MAX_QUESTION_CHARS = env.int("ASSISTANT_MAX_QUESTION_CHARS", default=2000)
ASSISTANT_MAX_SOURCES = env.int("ASSISTANT_MAX_SOURCES", default=6)  # retrieved per question
ASSISTANT_MAX_SOURCES_TOTAL = env.int("ASSISTANT_MAX_SOURCES_TOTAL", default=16)  # with tools
ASSISTANT_RATE_LIMIT_PER_MINUTE = env.int("ASSISTANT_RATE_LIMIT_PER_MINUTE", default=20)
ASSISTANT_HISTORY_MESSAGES = env.int("ASSISTANT_HISTORY_MESSAGES", default=6)
ASSISTANT_MAX_TOOL_ROUNDS = env.int("ASSISTANT_MAX_TOOL_ROUNDS", default=3)
# Tool calls run in one answer, all rounds together (a model may ask for many in one round).
ASSISTANT_MAX_TOOL_CALLS = env.int("ASSISTANT_MAX_TOOL_CALLS", default=8)
# Customers named in one question that are searched for (each search is audited).
ASSISTANT_MAX_CUSTOMER_CANDIDATES = env.int("ASSISTANT_MAX_CUSTOMER_CANDIDATES", default=5)

# E-mail through Django's SMTP backend (notifications of the secure message center and sign-in
# codes for customers: they never carry a message's content, docs/secure-messages.md).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="no-reply@portal.invalid")
# The portal's address as customers reach it: the links in e-mails.
PORTAL_PUBLIC_URL = env.str("PORTAL_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

# The secure message center (assistant.messaging, docs/secure-messages.md).
# API tokens for customer accounts (their API under /secure/api/): off unless the bank wants it.
CUSTOMER_API_TOKENS = env.bool("CUSTOMER_API_TOKENS", default=False)
# What a customer sees of their own sensitive values: these fields masked (last four digits,
# year of birth), the others in full.
CUSTOMER_MASKED_FIELDS = env.list("CUSTOMER_MASKED_FIELDS", default=["tax_id", "account_number"])
# The one-time code e-mailed at a customer's sign-in: how long it holds (seconds).
OTP_EMAIL_TOKEN_VALIDITY = env.int("CUSTOMER_SIGN_IN_CODE_SECONDS", default=600)
OTP_EMAIL_SUBJECT = "Your sign-in code"
OTP_EMAIL_BODY_TEMPLATE = (
    "Your sign-in code for the secure message center is {{ token }}.\n\n"
    "It holds for a few minutes. If you did not try to sign in, change your password."
)
# An invitation link holds this many hours, once.
CUSTOMER_INVITATION_HOURS = env.int("CUSTOMER_INVITATION_HOURS", default=72)
# Threads without a message for this many days close (a customer may write again: it reopens).
SECURE_THREAD_CLOSE_DAYS = env.int("SECURE_THREAD_CLOSE_DAYS", default=30)
SECURE_MESSAGE_MAX_CHARS = env.int("SECURE_MESSAGE_MAX_CHARS", default=10000)
# Messages a customer may send per hour (each is searched and drafted by the assistant).
SECURE_CUSTOMER_MESSAGES_PER_HOUR = env.int("SECURE_CUSTOMER_MESSAGES_PER_HOUR", default=20)
# Sources in a draft reply (customer-facing collections only).
SECURE_DRAFT_SOURCES = env.int("SECURE_DRAFT_SOURCES", default=5)
# Automatic sending (off by default): a ready draft in one of these categories is sent without
# a person's approval when every source it cites is customer-facing and it proposes no form;
# this percentage of them waits for a supervisor's review (docs/secure-messages.md).
SECURE_AUTO_SEND_CATEGORIES = env.list("SECURE_AUTO_SEND_CATEGORIES", default=[])
SECURE_AUTO_SEND_REVIEW_PERCENT = env.int("SECURE_AUTO_SEND_REVIEW_PERCENT", default=10)
# Model-written drafts may be sent automatically too (the customer's words can steer a model;
# off: only the extractive answerer's, sentences quoted from customer-facing documents).
SECURE_AUTO_SEND_MODEL_DRAFTS = env.bool("SECURE_AUTO_SEND_MODEL_DRAFTS", default=False)
# Files attached to one message (a receipt, a statement): how many, and their total size
# (at most KNOWLEDGE_MAX_UPLOAD_BYTES, the largest request body a multipart upload may have).
SECURE_ATTACHMENTS_PER_MESSAGE = env.int("SECURE_ATTACHMENTS_PER_MESSAGE", default=5)
SECURE_ATTACHMENTS_MAX_BYTES = min(
    env.int("SECURE_ATTACHMENTS_MAX_BYTES", default=10 * 1024 * 1024), KNOWLEDGE_MAX_UPLOAD_BYTES
)
CELERY_BEAT_SCHEDULE.update(
    {
        "messaging-close-inactive": {
            "task": "assistant.messaging.tasks.threads_close_inactive_task",
            "schedule": timedelta(hours=1),
        },
    }
)
