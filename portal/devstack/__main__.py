"""python -m portal.devstack {run,start,stop,status}: the one launcher of the dev stack.

``run`` is what ``make run`` calls: embedded services (unless DATABASE_URL / REDIS_URL
point elsewhere), migrations, demo data, a Celery worker and the web server; Ctrl-C stops
everything it started. ``start``/``stop``/``status`` manage only the database and broker,
for running ``manage.py`` commands by hand.

With ``SSO_DEMO=1``, ``run`` also starts the demo identity provider (``tests/idp``, see
``portal/devstack/idp.py``) on ``PORTAL_IDP_PORT`` (8001) and points the portal at it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time

from portal.devstack import config, idp
from portal.devstack.services import (
    EmbeddedPostgres,
    EmbeddedValkey,
    ServiceError,
    port_is_free,
    wait_for_port,
)

DATABASE_NAME = "portal"
PR_SET_PDEATHSIG = 1


def _say(message: str) -> None:
    print(f"[portal] {message}", flush=True)


def _services() -> list[EmbeddedPostgres | EmbeddedValkey]:
    services: list[EmbeddedPostgres | EmbeddedValkey] = []
    if not os.environ.get("DATABASE_URL"):
        services.append(EmbeddedPostgres.default())
    if not os.environ.get("REDIS_URL"):
        services.append(EmbeddedValkey.default())
    return services


def start_services() -> list[EmbeddedPostgres | EmbeddedValkey]:
    """Start the embedded services that are needed; returns those this call started."""
    started: list[EmbeddedPostgres | EmbeddedValkey] = []
    try:
        for service in _services():
            name = "PostgreSQL" if isinstance(service, EmbeddedPostgres) else "Valkey"
            if service.start():
                started.append(service)
                _say(f"started embedded {name} on {service.host}:{service.port}")
            else:
                _say(f"reusing embedded {name} on {service.host}:{service.port}")
            if isinstance(service, EmbeddedPostgres):
                service.ensure_database(DATABASE_NAME)
    except ServiceError:
        stop_services(started)
        raise
    return started


def stop_services(services: list[EmbeddedPostgres | EmbeddedValkey]) -> None:
    for service in reversed(services):
        service.stop()


def _manage(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        check=True,
        cwd=config.BASE_DIR,
        env={**os.environ, **(env or {})},
    )


def _die_with_launcher() -> None:
    """Runs in each child before exec: on Linux, the kernel sends it SIGTERM if the
    launcher dies, even by SIGKILL, so no worker or web server is ever orphaned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Own session: Ctrl-C reaches only the launcher, which stops children in order.
    return subprocess.Popen(
        args,
        cwd=config.BASE_DIR,
        start_new_session=True,
        preexec_fn=_die_with_launcher,
        env={**os.environ, **(env or {})},
    )


def _terminate(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop each child's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # What the child left behind in its group (a Celery pool process still busy with a
        # task when its parent stopped) goes too: nothing outlives the launcher.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _process_env() -> dict[str, str]:
    """What the worker and the web server get on top of our environment: the embedding model
    loaded when they start, and one metrics folder, so that the web's /metrics shows the
    worker's task timings too (emptied at each start: counters of old runs would add up)."""
    metrics_dir = config.var_dir() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    return {
        "EMBEDDING_WARM_ON_START": os.environ.get("EMBEDDING_WARM_ON_START", "1"),
        "PROMETHEUS_MULTIPROC_DIR": os.environ.get("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir)),
    }


def _sso_demo(web_port: int, password: str) -> idp.DemoProvider:
    """SSO_DEMO=1: the demo provider's configuration, its packages installed if missing."""
    idp_port = config.idp_port()
    if idp_port == web_port or not port_is_free(config.HOST, idp_port):
        raise idp.ProviderError(
            f"Port {config.HOST}:{idp_port} for the demo identity provider is already in use. "
            "Stop what uses it or set PORTAL_IDP_PORT=<port>."
        )
    if not idp.installed():
        _say("installing the demo identity provider (npm ci in tests/idp) ...")
    idp.ensure_installed()
    return idp.demo_provider(
        web_port=web_port, idp_port=idp_port, password=password, secret=idp.client_secret()
    )


def _say_sso_demo(provider: idp.DemoProvider) -> None:
    _say(
        f"SSO demo: 'Sign in with {idp.DISPLAY_NAME}' on the sign-in page, "
        f"identity provider on {provider.issuer}/"
    )
    for user in idp.DEMO_USERS:
        _say(f"  {user.username:<15} groups {', '.join(user.groups):<35} -> {user.gives}")


def run() -> int:
    port = config.web_port()
    if not port_is_free(config.HOST, port):
        _say(
            f"Port {config.HOST}:{port} is already in use (another portal?). "
            "Stop it or set PORTAL_PORT=<port>."
        )
        return 2
    password = os.environ.get("DEMO_PASSWORD", config.DEMO_PASSWORD_DEFAULT)
    provider: idp.DemoProvider | None = None
    if config.sso_demo():
        try:
            provider = _sso_demo(port, password)
        except idp.ProviderError as error:
            _say(str(error))
            return 2
    sso_env = provider.portal_env if provider else {}
    started = start_services()
    children: list[subprocess.Popen[bytes]] = []
    names: list[str] = []
    stopping = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        _manage("migrate", "--noinput")
        _manage("seed_demo")
        if provider:
            # OIDC_GROUP_MAP is seeded after migrate (portal/signals.py), and its regions
            # must exist: seed_demo makes them, so migrate once more (nothing to migrate).
            _manage("migrate", "--noinput", env=sso_env)
            names.append("demo identity provider")
            children.append(_spawn(idp.command(), env=provider.provider_env))
            idp.wait_until_ready(provider, children[-1])
        process_env = {**_process_env(), **sso_env}
        names.append("Celery worker")
        children.append(
            _spawn([sys.executable, "-m", "celery", "-A", "portal", "worker", "--loglevel=INFO",
                    "--concurrency=2", "--hostname=portal-dev@%h", "--beat",
                    f"--schedule={config.var_dir() / 'celerybeat-schedule'}"], env=process_env)
        )  # fmt: skip
        # The web process embeds one short query at a time: one torch thread keeps its
        # latency steady when the worker is busy on the other cores (docs/benchmarks.md).
        web_env = {
            **process_env,
            "EMBEDDING_TORCH_THREADS": os.environ.get("EMBEDDING_TORCH_THREADS", "1"),
            # Serve at once; a search in the first seconds waits for the model.
            "WARM_UP_IN_BACKGROUND": os.environ.get("WARM_UP_IN_BACKGROUND", "1"),
        }
        names.append("web server")
        children.append(
            _spawn(
                [sys.executable, "manage.py", "runserver", f"{config.HOST}:{port}", "--noreload"],
                env=web_env,
            )
        )
        if not wait_for_port(config.HOST, port, 60):
            _say("The web server did not start; see the messages above.")
            return 1
        _say(f"Portal ready on http://{config.HOST}:{port}/  (Ctrl-C stops everything)")
        _say(
            "Demo logins: agent, agent_south, supervisor, supervisor_hq, compliance, content, admin"
        )
        if provider:
            _say_sso_demo(provider)
        also = ", the SSO demo users' too" if provider else ""
        _say(f"Demo password: {password}   (set DEMO_PASSWORD to change it{also})")
        while not stopping:
            for name, child in zip(names, children, strict=True):
                if child.poll() is not None:
                    _say(f"The {name} exited with code {child.returncode}; stopping.")
                    stopping = True
            time.sleep(0.3)
        return 0
    except subprocess.CalledProcessError as error:
        _say(f"Start-up step failed: {' '.join(map(str, error.cmd[1:]))}")
        return 1
    except idp.ProviderError as error:
        _say(str(error))
        return 1
    finally:
        _say("stopping ...")
        _terminate(children)
        stop_services(started)
        _say("stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.devstack")
    parser.add_argument("command", choices=["run", "start", "stop", "status"])
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")
    try:
        if args.command == "run":
            return run()
        if args.command == "start":
            start_services()
            return 0
        if args.command == "stop":
            stop_services(_services())
            _say("embedded services stopped.")
            return 0
        for service in _services():
            state = "running" if service.is_running() else "stopped"
            _say(f"{type(service).__name__}: {state} ({service.host}:{service.port})")
        return 0
    except ServiceError as error:
        _say(str(error))
        return 2


if __name__ == "__main__":
    sys.exit(main())
