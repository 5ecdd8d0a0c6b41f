"""`SSO_DEMO=1 make run`: the launcher also runs the demo identity provider (tests/idp),
points the portal at it, and stops it with everything else."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import psutil
import pytest
import requests

from portal.devstack import idp

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "launcher sso password"
LOGIN_FORM = re.compile(r'<form[^>]*id="login-form"[^>]*action="([^"]+)"')
ROLE_BADGE = re.compile(r'portal-role-badge"[^>]*>([^<]+)<')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    """A dev stack of its own (data in tmp_path, free ports), with the SSO demo on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        and not k.startswith(("OIDC_", "IDP_"))
    }
    env.update(
        SSO_DEMO="1",
        PORTAL_VAR_DIR=str(tmp_path / "var"),
        EMBEDDED_PG_PORT=str(_free_port()),
        EMBEDDED_REDIS_PORT=str(_free_port()),
        PORTAL_PORT=str(_free_port()),
        PORTAL_IDP_PORT=str(_free_port()),
        DEMO_PASSWORD=PASSWORD,
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen in time:\n{''.join(lines)}")


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy
    return session


def _sso_sign_in(web: int, username: str) -> requests.Response:
    """The SSO button, the provider's form, every redirect back to the portal."""
    session = _session()
    form = session.get(f"http://127.0.0.1:{web}/accounts/sso/login/", timeout=30)
    action = LOGIN_FORM.search(form.text)
    assert action, form.text[:500]
    return session.post(
        urljoin(form.url, action.group(1)),
        data={"login": username, "password": PASSWORD},
        timeout=30,
    )


def test_the_provider_configuration_and_the_portal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path / "var"))
    secret = idp.client_secret()
    assert len(secret) >= 40
    assert idp.client_secret() == secret  # made once, then kept
    kept = tmp_path / "var" / idp.SECRET_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    provider = idp.demo_provider(web_port=8123, idp_port=8124, password="pw", secret=secret)
    assert provider.issuer == "http://127.0.0.1:8124"
    assert provider.provider_env["IDP_PORT"] == "8124"
    assert provider.provider_env["IDP_ISSUER"] == provider.issuer
    (client,) = json.loads(provider.provider_env["IDP_CLIENTS"])
    assert client == {
        "client_id": "portal-demo",
        "client_secret": secret,
        "redirect_uris": ["http://127.0.0.1:8123/accounts/sso/callback/"],
        "post_logout_redirect_uris": ["http://127.0.0.1:8123/accounts/login/"],
    }
    users = {u["username"]: u for u in json.loads(provider.provider_env["IDP_USERS"])}
    assert {name: users[name]["groups"] for name in users} == {
        "sso.agent": ["portal-agents-north", "all-staff"],
        "sso.supervisor": ["portal-supervisors-north", "all-staff"],
        "sso.compliance": ["portal-compliance", "all-staff"],
        "sso.nobody": ["all-staff"],
    }
    assert {u["password"] for u in users.values()} == {"pw"}
    assert len({u["sub"] for u in users.values()}) == 4
    assert provider.portal_env == {
        "OIDC_ISSUER": "http://127.0.0.1:8124",
        "OIDC_CLIENT_ID": "portal-demo",
        "OIDC_CLIENT_SECRET": secret,
        "OIDC_DISPLAY_NAME": "Demo SSO",
        "OIDC_GROUP_MAP": (
            "portal-agents-north=agent:north,portal-supervisors-north=supervisor:north,"
            "portal-compliance=compliance"
        ),
    }


def test_a_taken_provider_port_stops_the_launcher_before_anything_starts(
    tmp_path: Path,
) -> None:
    env = _isolated_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["PORTAL_IDP_PORT"] = str(taken.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "portal.devstack", "run"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "PORTAL_IDP_PORT" in result.stdout
    assert not (tmp_path / "var" / "pgdata").exists()  # no service was started


def test_sso_demo_runs_the_provider_signs_in_through_it_and_stops_it(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    env = _isolated_env(tmp_path)
    web, idp_port = int(env["PORTAL_PORT"]), int(env["PORTAL_IDP_PORT"])
    issuer = f"http://127.0.0.1:{idp_port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.devstack", "run"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output = "".join(_wait_for_line(process, "Demo password", timeout=240))
        assert f"identity provider on {issuer}/" in output
        for user in ("sso.agent", "sso.supervisor", "sso.compliance", "sso.nobody"):
            assert f"[portal]   {user} " in output
        assert f"Demo password: {PASSWORD}" in output
        started = psutil.Process(process.pid).children(recursive=True)
        node = [p for p in started if "server.js" in " ".join(p.cmdline())]
        assert len(node) == 1
        assert _answers(idp_port)
        assert idp.discovery_issuer(f"{issuer}/.well-known/openid-configuration") == issuer

        login_page = _session().get(f"http://127.0.0.1:{web}/accounts/login/", timeout=30)
        assert "Sign in with Demo SSO" in login_page.text

        agent = _sso_sign_in(web, "sso.agent")
        assert agent.url == f"http://127.0.0.1:{web}/", agent.url
        assert "sso.agent" in agent.text
        assert ROLE_BADGE.findall(agent.text)[:2] == ["agent", "north"]  # OIDC_GROUP_MAP

        nobody = _sso_sign_in(web, "sso.nobody")
        assert nobody.status_code == 403
        assert "No access to the portal" in nobody.text

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        time.sleep(0.5)
        for child in started:
            alive = psutil.pid_exists(child.pid) and child.status() != psutil.STATUS_ZOMBIE
            assert not alive, f"{child.cmdline()} survived Ctrl-C"
        assert not _answers(idp_port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        subprocess.run(
            [sys.executable, "-m", "portal.devstack", "stop"], cwd=ROOT, env=env, check=False,
            capture_output=True,
        )  # fmt: skip
