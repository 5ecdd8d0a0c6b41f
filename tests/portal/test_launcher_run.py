"""`make run`'s launcher end to end: everything comes up, Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    """A dev stack of its own: data in tmp_path, free ports, embedded services."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        PORTAL_VAR_DIR=str(tmp_path / "var"),
        EMBEDDED_PG_PORT=str(_free_port()),
        EMBEDDED_REDIS_PORT=str(_free_port()),
        PORTAL_PORT=str(_free_port()),
        DEMO_PASSWORD="launcher test password",
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


def test_children_die_with_a_killed_launcher(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    env = _isolated_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.devstack", "run"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait_for_line(process, "Demo password", timeout=240)
        children = psutil.Process(process.pid).children(recursive=True)
        assert children
        process.kill()
        process.wait()
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    finally:
        subprocess.run(
            [sys.executable, "-m", "portal.devstack", "stop"], cwd=ROOT, env=env, check=False,
            capture_output=True,
        )  # fmt: skip


def test_run_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    env = _isolated_env(tmp_path)
    web = int(env["PORTAL_PORT"])
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.devstack", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = _wait_for_line(process, "Demo password", timeout=240)
        output = "".join(lines)
        assert "Demo password: launcher test password" in output
        started = psutil.Process(process.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "celery" in names
        assert "runserver" in names
        postgres_pid = int((tmp_path / "var/pgdata/postmaster.pid").read_text().split()[0])
        valkey_pid = int((tmp_path / "var/valkey/valkey.pid").read_text().strip())

        # Sign in over HTTP as a demo user.
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(f"http://127.0.0.1:{web}/accounts/login/").read()
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        body = f"username=supervisor&password=launcher+test+password&csrfmiddlewaretoken={csrf}"
        request = urllib.request.Request(
            f"http://127.0.0.1:{web}/accounts/login/",
            data=body.encode(),
            headers={"Referer": f"http://127.0.0.1:{web}/accounts/login/"},
        )
        page = opener.open(request).read().decode()
        assert "supervisor" in page
        assert "Your roles" in page

        # A second launcher refuses clearly instead of fighting over the port.
        second = subprocess.run(
            [sys.executable, "-m", "portal.devstack", "run"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 2
        assert "already in use" in second.stdout

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        time.sleep(0.5)
        for pid in [p.pid for p in started] + [postgres_pid, valkey_pid]:
            alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            assert not alive, f"process {pid} survived Ctrl-C"
    finally:
        if process.poll() is None:
            # SIGKILL on purpose: the children must follow their launcher anyway.
            process.kill()
            process.wait()
        subprocess.run(
            [sys.executable, "-m", "portal.devstack", "stop"], cwd=ROOT, env=env, check=False,
            capture_output=True,
        )  # fmt: skip
