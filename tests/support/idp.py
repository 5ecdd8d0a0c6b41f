"""A real local OpenID Connect provider for tests: ``tests/idp/server.js`` (oidc-provider).

``oidc_provider(clients, users)`` installs the provider's npm packages if they are missing
(``npm ci`` in ``tests/idp``, the only step that needs the npm registry), starts it on a
free loopback port, waits until it answers its discovery document, and stops it at exit::

    clients = [{"client_id": "portal", "client_secret": "s3cret",
                "redirect_uris": ["http://127.0.0.1:8000/oidc/callback/"],
                "post_logout_redirect_uris": ["http://127.0.0.1:8000/"]}]
    users = [{"sub": "u-1", "username": "alice", "password": "pw", "email": "alice@example.test",
              "name": "Alice", "groups": ["staff"]}]
    with oidc_provider(clients, users) as idp:
        idp.issuer            # "http://127.0.0.1:PORT"
        idp.set_groups("u-1", [])  # the next sign-in (and userinfo) carries no groups

The login page is a form ``POST /interaction/<uid>/login`` with fields ``login`` and
``password``; consent is given automatically. See ``tests/idp/README.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IDP_DIR = Path(__file__).resolve().parent.parent / "idp"
SERVER_JS = IDP_DIR / "server.js"
READY_PREFIX = "IDP READY "
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
NPM_CI_TIMEOUT_SECONDS = 600.0

# Loopback only: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class OIDCProviderError(RuntimeError):
    """The test identity provider could not be installed or started."""


@dataclass
class RunningOIDCProvider:
    issuer: str
    port: int
    admin_token: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        """The provider's discovery document."""
        return _get_json(self.discovery_url)

    def set_groups(self, sub: str, groups: Sequence[str]) -> None:
        """Replace the groups of user ``sub`` at the provider (seen by the next tokens)."""
        body = json.dumps({"sub": sub, "groups": list(groups)}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_test/users",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with _OPENER.open(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise OIDCProviderError(
                f"set_groups({sub!r}) failed: HTTP {error.code} {detail}"
            ) from error

    def log(self) -> str:
        """What the provider printed so far (stdout and stderr)."""
        return _read_text(self.log_path)


def ensure_installed() -> None:
    """Run ``npm ci`` in ``tests/idp`` when its ``node_modules`` is missing."""
    if shutil.which("node") is None:
        raise OIDCProviderError(
            "node is not installed: the test identity provider (tests/idp) needs Node.js >= 20"
        )
    if (IDP_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise OIDCProviderError(
            "npm is not installed: it is needed once to install tests/idp (npm ci)"
        )
    lock_path = Path(tempfile.gettempdir()) / "portal-tests-idp-npm-ci.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time (parallel test workers)
        try:
            if (IDP_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
                return
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=IDP_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT_SECONDS,
                check=False,
            )
            if result.returncode != 0:
                raise OIDCProviderError(
                    f"npm ci in {IDP_DIR} failed (exit {result.returncode}):\n"
                    f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def portal_provider(
    portal_url: str, client_id: str, client_secret: str, users: list[dict[str, Any]]
) -> Iterator[RunningOIDCProvider]:
    """The provider with one client: the portal at ``portal_url`` (its SSO callback and
    its sign-in page as the redirect URIs), and ``users``."""
    client = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": [f"{portal_url}/accounts/sso/callback/"],
        "post_logout_redirect_uris": [f"{portal_url}/accounts/login/"],
    }
    with oidc_provider([client], users) as provider:
        yield provider


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def oidc_provider(
    clients: Sequence[Mapping[str, Any]],
    users: Sequence[Mapping[str, Any]],
    *,
    port: int | None = None,
    admin_token: str | None = None,
    id_token_ttl: int | None = None,
    jwks: Mapping[str, Any] | None = None,
) -> Iterator[RunningOIDCProvider]:
    """Run ``tests/idp/server.js`` for the duration of the block.

    ``clients``: ``{client_id, client_secret, redirect_uris, post_logout_redirect_uris}``
    (other client metadata passes through, e.g. ``token_endpoint_auth_method``, which
    defaults to ``client_secret_basic``). ``users``: ``{sub, username, password, email, name,
    groups}``. Without ``port`` a free loopback port is picked; without ``admin_token`` a
    random one is made, so ``set_groups`` always works. ``jwks``: the provider's signing keys
    (a private JWK set; without it, a key made at start), for tests that sign tokens too.
    """
    ensure_installed()
    token = admin_token or secrets.token_urlsafe(24)
    attempts = 1 if port is not None else 3  # a picked port may be taken meanwhile
    with tempfile.TemporaryDirectory(prefix="portal-idp-") as tmp:
        last_error: OIDCProviderError | None = None
        for attempt in range(attempts):
            chosen = port if port is not None else free_port()
            log_path = Path(tmp) / f"idp-{attempt}.log"
            env = dict(os.environ)
            env.update(
                {
                    "IDP_PORT": str(chosen),
                    "IDP_ISSUER": f"http://127.0.0.1:{chosen}",
                    "IDP_CLIENTS": json.dumps(list(clients)),
                    "IDP_USERS": json.dumps(list(users)),
                    "IDP_ADMIN_TOKEN": token,
                }
            )
            env.pop("IDP_JWKS", None)
            if jwks is not None:
                env["IDP_JWKS"] = json.dumps(dict(jwks))
            if id_token_ttl is not None:
                env["IDP_ID_TOKEN_TTL"] = str(int(id_token_ttl))
            else:
                env.pop("IDP_ID_TOKEN_TTL", None)
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    ["node", str(SERVER_JS)],
                    cwd=IDP_DIR,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            running = RunningOIDCProvider(
                issuer=f"http://127.0.0.1:{chosen}",
                port=chosen,
                admin_token=token,
                log_path=log_path,
                process=process,
            )
            try:
                _wait_until_ready(running)
            except OIDCProviderError as error:
                _stop(process)
                if "EADDRINUSE" not in running.log():
                    raise
                last_error = error
                continue
            except BaseException:
                _stop(process)
                raise
            try:
                yield running
            finally:
                _stop(process)
            return
        assert last_error is not None
        raise last_error


def _wait_until_ready(running: RunningOIDCProvider) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    announced = False
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise OIDCProviderError(
                f"the test identity provider exited with code {running.process.returncode}:\n"
                f"{running.log()[-4000:]}"
            )
        if not announced:
            announced = any(line.startswith(READY_PREFIX) for line in running.log().splitlines())
        if announced:
            try:
                _get_json(running.discovery_url, timeout=2)
                return
            except (OSError, ValueError):
                pass
        time.sleep(0.1)
    raise OIDCProviderError(
        f"the test identity provider did not get ready within {START_TIMEOUT_SECONDS:.0f} s:\n"
        f"{running.log()[-4000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _get_json(url: str, timeout: float = 10) -> dict[str, Any]:
    with _OPENER.open(url, timeout=timeout) as response:
        if response.status != 200:
            raise ValueError(f"{url} answered HTTP {response.status}")
        document: dict[str, Any] = json.load(response)
        return document


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
