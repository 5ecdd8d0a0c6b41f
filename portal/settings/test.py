"""Tests: the local settings (same embedded servers, or DATABASE_URL / REDIS_URL), quieter."""

from urllib.parse import urlsplit, urlunsplit

from portal.devstack.config import embedded_redis_url
from portal.settings.local import *  # noqa: F403
from portal.settings.local import MEDIA_ROOT, REDIS_URL, REST_FRAMEWORK, STORAGES, env

DEBUG = False
SECRET_KEY = "insecure-test-key-only-used-by-the-test-suite-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

# In a parallel run (pytest -n N, make test) each worker gets its own broker database (and
# pytest-django its own test database, "<name>_gw0" ...) and its own media folder.
_WORKER = env.str("PYTEST_XDIST_WORKER", default="")
_WORKER_NUMBER = int(_WORKER.removeprefix("gw")) if _WORKER.startswith("gw") else 0
if _WORKER:
    MEDIA_ROOT = MEDIA_ROOT / f"test-{_WORKER}"

if not env.str("REDIS_URL", default=""):
    # Database 1 (and up, per worker): the dev broker's queues (database 0) stay apart.
    REDIS_URL = embedded_redis_url(1 + _WORKER_NUMBER)
elif _WORKER_NUMBER and env.str("PORTAL_TEST_RUN_REDIS_URL", default="") == REDIS_URL:
    # The run's broker given by REDIS_URL: worker N uses the database N above the URL's.
    # (A broker of a test's own, handed to a subprocess in REDIS_URL, is used as it is.)
    _broker = urlsplit(REDIS_URL)
    _db = int(_broker.path.strip("/") or 0) + _WORKER_NUMBER
    REDIS_URL = urlunsplit(_broker._replace(path=f"/{_db}"))
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL

# Fast hashing keeps the suite quick; argon2 itself is checked in a dedicated test.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
STORAGES = {
    **STORAGES,  # STORAGE_BACKEND's (local unless a test's subprocess is told otherwise)
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "10000/min"}}
# The embedding model loads on first use in tests (warm-up is tested on its own).
EMBEDDING_WARM_ON_START = False

# Two test runs at once (two checkouts, two terminals) each need their own database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_portal")}

# Tests sign admins and compliance officers in directly (force_login): MFA is required only
# where a test asks for it (tests/portal/test_mfa.py).
MFA_REQUIRED_ROLES = []
