"""Where the embedded services live and listen; read by settings, no server started here."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent.parent
HOST = "127.0.0.1"
DEMO_PASSWORD_DEFAULT = "portal-demo-2026"  # noqa: S105 - development and tests only


def var_dir() -> Path:
    return Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var")).resolve()


def postgres_port() -> int:
    return int(os.environ.get("EMBEDDED_PG_PORT", "54329"))


def postgres_shared_buffers() -> str:
    """``EMBEDDED_PG_SHARED_BUFFERS`` (e.g. ``4GB``): PostgreSQL's own cache. 256MB suits the
    demo and the tests; a corpus of a million chunks wants its HNSW index (about 2 GiB per
    million chunks) to fit (docs/operations.md, "Knowledge at scale")."""
    value = os.environ.get("EMBEDDED_PG_SHARED_BUFFERS", "256MB").strip()
    if not re.fullmatch(r"[1-9][0-9]{0,6}(kB|MB|GB)", value):
        raise ValueError(f"EMBEDDED_PG_SHARED_BUFFERS={value!r}: give a size such as 256MB or 4GB.")
    return value


def redis_port() -> int:
    return int(os.environ.get("EMBEDDED_REDIS_PORT", "63790"))


def web_port() -> int:
    return int(os.environ.get("PORTAL_PORT", "8000"))


def idp_port() -> int:
    """The demo identity provider's port (``SSO_DEMO=1 make run``)."""
    return int(os.environ.get("PORTAL_IDP_PORT", "8001"))


def sso_demo() -> bool:
    """``SSO_DEMO=1``: ``make run`` also starts the demo identity provider (tests/idp)."""
    return os.environ.get("SSO_DEMO", "").strip().lower() in {"1", "true", "yes", "on"}


def embedded_database(name: str) -> dict[str, Any]:
    """Django DATABASES entry for the embedded server (trust auth on loopback only)."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": HOST,
        "PORT": str(postgres_port()),
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
    }


def embedded_redis_url(db: int) -> str:
    return f"redis://{HOST}:{redis_port()}/{db}"
