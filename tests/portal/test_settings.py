"""Production settings: fail fast without secrets, pass check --deploy with them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "DJANGO_SECRET_KEY": "k7#Vq2!pX9zR4mL8wT1yB6nC3dF5hJ0sA-uE^gH*iK(oP)qW+eR=tY",
    "DJANGO_ALLOWED_HOSTS": "portal.bank.example",
    "DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "FIELD_ENCRYPTION_KEYS": "Qd9nKHoglvKQQ7XxsO2OEat5_fhH-vNDUQB0H-QL9mw=",
    "PORTAL_PUBLIC_URL": "https://portal.bank.example",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    prefixes = ("DJANGO_", "DATABASE_", "REDIS_", "FIELD_ENCRYPTION_", "PORTAL_PUBLIC_URL")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_required_variables() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "FIELD_ENCRYPTION_KEYS",
        "PORTAL_PUBLIC_URL",
    ],
)
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_logs_json_warms_up_and_hides_metrics() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.LOGGING['handlers']['console']['formatter'], s.EMBEDDING_WARM_ON_START, "
        "s.METRICS_ALLOWED_IPS, repr(s.METRICS_TOKEN), s.TRUSTED_PROXY_REQUEST_ID)"
    )
    result = _manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    # (the last line: Django's shell may first say what it imported)
    assert result.stdout.strip().splitlines()[-1].split() == ["json", "True", "[]", "''", "False"]


def test_production_wants_an_https_public_address() -> None:
    result = _manage("check", env={**PRODUCTION_ENV, "PORTAL_PUBLIC_URL": "http://portal"})
    assert result.returncode != 0
    assert "PORTAL_PUBLIC_URL must be the portal's https:// address" in result.stderr
