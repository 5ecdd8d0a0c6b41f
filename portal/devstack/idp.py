"""The demo identity provider of ``SSO_DEMO=1 make run``: ``tests/idp/server.js``.

A real OpenID Connect provider (oidc-provider, see ``tests/idp/README.md``) on
``127.0.0.1:PORTAL_IDP_PORT`` with one client for the portal (``portal-demo``, its secret
made once and kept in ``var/``) and four demo users whose groups map to an agent, a
supervisor, a compliance officer and nobody. The launcher starts it as one of its
children; this module says how (command, environment, readiness) and installs its npm
packages when they are missing. Nothing here imports from ``tests``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from portal.devstack import config

IDP_DIR = config.BASE_DIR / "tests" / "idp"
SERVER_JS = IDP_DIR / "server.js"
CLIENT_ID = "portal-demo"
DISPLAY_NAME = "Demo SSO"
GROUP_MAP = (
    "portal-agents-north=agent:north,"
    "portal-supervisors-north=supervisor:north,"
    "portal-compliance=compliance"
)
SECRET_FILE = "sso-demo-client-secret"  # noqa: S105 - a file name, the secret is inside
NPM_CI_TIMEOUT_SECONDS = 600.0
START_TIMEOUT_SECONDS = 30.0

# Loopback only: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ProviderError(RuntimeError):
    """The demo identity provider cannot be installed or started; the message says why."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    groups: tuple[str, ...]
    gives: str  # what the portal makes of those groups (printed at start)


DEMO_USERS = (
    DemoUser("sso.agent", ("portal-agents-north", "all-staff"), "agent, North branch"),
    DemoUser(
        "sso.supervisor", ("portal-supervisors-north", "all-staff"), "supervisor, North branch"
    ),
    DemoUser("sso.compliance", ("portal-compliance", "all-staff"), "compliance"),
    DemoUser("sso.nobody", ("all-staff",), "no mapped group: the no-access page"),
)


@dataclass(frozen=True)
class DemoProvider:
    """How to run the provider and what the portal's processes need to use it."""

    port: int
    issuer: str
    provider_env: dict[str, str]  # for ``node server.js``
    portal_env: dict[str, str]  # for migrate (group mappings), the worker and the web server

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def client_secret() -> str:
    """The portal-demo client's secret: made at the first ``SSO_DEMO=1`` start, then kept
    in ``var/`` (readable by its owner only)."""
    path = config.var_dir() / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def demo_provider(*, web_port: int, idp_port: int, password: str, secret: str) -> DemoProvider:
    """The provider's configuration for a portal on ``web_port``."""
    issuer = f"http://{config.HOST}:{idp_port}"
    portal = f"http://{config.HOST}:{web_port}"
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": secret,
            "redirect_uris": [f"{portal}/accounts/sso/callback/"],
            "post_logout_redirect_uris": [f"{portal}/accounts/login/"],
        }
    ]
    users: list[dict[str, Any]] = [
        {
            "sub": f"demo-{user.username.replace('.', '-')}",
            "username": user.username,
            "password": password,
            "email": f"{user.username}@sso-demo.example",
            "name": f"SSO demo {user.username.partition('.')[2]}",
            "groups": list(user.groups),
        }
        for user in DEMO_USERS
    ]
    return DemoProvider(
        port=idp_port,
        issuer=issuer,
        provider_env={
            "IDP_PORT": str(idp_port),
            "IDP_ISSUER": issuer,
            "IDP_CLIENTS": json.dumps(clients),
            "IDP_USERS": json.dumps(users),
        },
        portal_env={
            "OIDC_ISSUER": issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": secret,
            "OIDC_DISPLAY_NAME": DISPLAY_NAME,
            "OIDC_GROUP_MAP": GROUP_MAP,
        },
    )


def command() -> list[str]:
    return ["node", str(SERVER_JS)]


def installed() -> bool:
    return (IDP_DIR / "node_modules" / "oidc-provider" / "package.json").exists()


def ensure_installed() -> bool:
    """``npm ci`` in ``tests/idp`` when its packages are missing; True when it ran."""
    if shutil.which("node") is None:
        raise ProviderError(
            "SSO_DEMO=1 needs Node.js >= 20 for the demo identity provider (tests/idp); "
            "install it (Debian: apt-get install nodejs npm) or run without SSO_DEMO."
        )
    if installed():
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise ProviderError("npm is not installed: it is needed once to install tests/idp.")
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=IDP_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ProviderError(f"npm ci in {IDP_DIR} took more than {error.timeout:.0f} s") from error
    if result.returncode != 0 or not installed():
        raise ProviderError(
            f"npm ci in {IDP_DIR} failed (exit {result.returncode}):\n{result.stderr[-2000:]}"
        )
    return True


def wait_until_ready(
    provider: DemoProvider,
    process: subprocess.Popen[Any],
    timeout: float = START_TIMEOUT_SECONDS,
) -> None:
    """Until the provider answers its discovery document with our issuer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProviderError(
                f"the demo identity provider exited with code {process.returncode} "
                "(see its messages above)"
            )
        if discovery_issuer(provider.discovery_url) == provider.issuer:
            return
        time.sleep(0.2)
    raise ProviderError(f"the demo identity provider did not answer within {timeout:.0f} s")


def discovery_issuer(url: str, timeout: float = 2) -> str | None:
    """The issuer named by the discovery document at ``url``; None when it does not answer."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            document = json.load(response)
    except (OSError, ValueError):
        return None
    issuer = document.get("issuer") if isinstance(document, dict) else None
    return str(issuer) if issuer else None
