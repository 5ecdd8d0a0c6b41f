"""Tests: the same embedded servers as development (or DATABASE_URL / REDIS_URL)."""

from portal.devstack.config import DEMO_PASSWORD_DEFAULT, embedded_database, embedded_redis_url
from portal.settings.base import *  # noqa: F403
from portal.settings.base import DATABASES, REDIS_URL, env

DEBUG = False
SECRET_KEY = "insecure-test-key-only-used-by-the-test-suite-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

if not DATABASES:
    DATABASES = {"default": embedded_database("portal")}
if not REDIS_URL:
    REDIS_URL = embedded_redis_url(1)
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

# Fast hashing keeps the suite quick; argon2 itself is checked in a dedicated test.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "10000/min"}}

# Serve static files straight from static/ (no collectstatic needed).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

DEMO_PASSWORD = env.str("DEMO_PASSWORD", default=DEMO_PASSWORD_DEFAULT)
