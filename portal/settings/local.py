"""Development: embedded PostgreSQL and Valkey unless DATABASE_URL / REDIS_URL are set."""

from portal.devstack.config import DEMO_PASSWORD_DEFAULT, embedded_database, embedded_redis_url
from portal.settings.base import *  # noqa: F403
from portal.settings.base import DATABASES, REDIS_URL, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="insecure-local-development-key-not-for-production"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

if not DATABASES:
    DATABASES = {"default": embedded_database("portal")}
if not REDIS_URL:
    REDIS_URL = embedded_redis_url(0)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

# Serve static files straight from static/ (no collectstatic needed).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

DEMO_PASSWORD = env.str("DEMO_PASSWORD", default=DEMO_PASSWORD_DEFAULT)

# /metrics from this machine only (curl http://127.0.0.1:8000/metrics).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])

# A fixed development key (never for production, which requires its own).
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=["Qd9nKHoglvKQQ7XxsO2OEat5_fhH-vNDUQB0H-QL9mw="]
)

# E-mails land as files in var/mail/ (no SMTP server needed to try the portal).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
