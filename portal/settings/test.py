"""Tests: the local settings (same embedded servers, or DATABASE_URL / REDIS_URL), quieter."""

from portal.devstack.config import embedded_redis_url
from portal.settings.local import *  # noqa: F403
from portal.settings.local import REST_FRAMEWORK, env

DEBUG = False
SECRET_KEY = "insecure-test-key-only-used-by-the-test-suite-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

if not env.str("REDIS_URL", default=""):
    REDIS_URL = embedded_redis_url(1)  # keep the dev broker's queues apart
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
# The embedding model loads on first use in tests (warm-up is tested on its own).
EMBEDDING_WARM_ON_START = False

# Two test runs at once (two checkouts, two terminals) each need their own database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_portal")}
