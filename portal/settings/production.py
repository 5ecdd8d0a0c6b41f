"""Production: every secret and address comes from the environment, with no default."""

from django.core.exceptions import ImproperlyConfigured

from portal.logs import logging_config
from portal.settings.base import *  # noqa: F403
from portal.settings.base import DATABASES, LOG_LEVEL, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not DATABASES:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
REDIS_URL = env.str("REDIS_URL")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

# One JSON object per log line, with request_id, user_id and route (docs/operations.md).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)
# Each web and worker process loads the embedding model when it starts.
EMBEDDING_WARM_ON_START = env.bool("EMBEDDING_WARM_ON_START", default=True)

# Customers follow links in e-mails and get sign-in codes by e-mail: the portal's public
# address must be given (https), and mail must leave over TLS unless the bank says otherwise.
PORTAL_PUBLIC_URL = env.str("PORTAL_PUBLIC_URL").rstrip("/")
if not PORTAL_PUBLIC_URL.startswith("https://"):
    raise ImproperlyConfigured("PORTAL_PUBLIC_URL must be the portal's https:// address.")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
