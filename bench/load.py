"""Load test: locust against gunicorn with the production settings and the embedded services.

Starts the embedded PostgreSQL and Valkey (as ``make run`` does), a database of its own
(``portal_load``) with the demo data and 50 agents (``load-agent-00`` … ``49``, north and
south), a Celery worker (the demo documents are ingested before the run), the fake model
server of the tests (OpenAI protocol, answers at once), then gunicorn with
``portal.settings.production`` (DEBUG off, JSON logs to a file) on a loopback port, and runs
``bench/locustfile.py`` three times:

1. **steady**: 50 users with think time (0.5 to 2 s) for 60 s, web workers warmed at start
   (``EMBEDDING_WARM_ON_START``, the production default);
2. **cold** (``--cold``, off by default): the same with the warm-up off, to show what it buys;
3. **steps**: users with the same think time, stepped up (10, 20, 30, 50 by default, 30 s
   each): up to how many agents the p95 target holds on this machine;
4. **saturation**: users with no think time, stepped up until requests/s stop rising.

Prints a Markdown table per run (requests/s, p50/p95/p99 per endpoint, failures).
Run: ``.venv/bin/python bench/load.py [--users 50] [--seconds 60] [--workers 2]
[--threads 4] [--cold]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from _setup import ROOT

DATABASE = "portal_load"
PASSWORD = "load-test-password-2026"  # noqa: S105 - a throw-away database on loopback
ACCOUNTS = 50


def _python() -> str:
    return sys.executable


def _services() -> dict[str, str]:
    """The embedded servers (started when not running) and the load database."""
    sys.path.insert(0, str(ROOT))
    from portal.devstack.__main__ import start_services
    from portal.devstack.config import HOST, embedded_redis_url, postgres_port
    from portal.devstack.services import EmbeddedPostgres

    start_services()
    EmbeddedPostgres.default().ensure_database(DATABASE)
    return {
        "DATABASE_URL": f"postgres://postgres@{HOST}:{postgres_port()}/{DATABASE}",
        "REDIS_URL": embedded_redis_url(5),
    }


def _environment(services: dict[str, str], model_url: str, logs: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    from portal.devstack.config import var_dir

    key_file = var_dir() / "load-field-key"  # kept with the database it encrypted
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode())
    env = {
        **os.environ,
        **services,
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "DJANGO_SECRET_KEY": "load-" + "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "FIELD_ENCRYPTION_KEYS": key_file.read_text(),
        "SECURE_SSL_REDIRECT": "0",
        "DEMO_PASSWORD": PASSWORD,
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "sk-load",
        "OPENAI_MODEL": "load-model",
        "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PORTAL_SETTINGS", None)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [_python(), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


SEED_AGENTS = f"""
from portal.models import Region
from portal.permissions import Role
from portal.services import user_ensure
regions = list(Region.objects.filter(code__in=["north", "south"]).order_by("code"))
for i in range({ACCOUNTS}):
    user_ensure(username=f"load-agent-{{i:02d}}", password="{PASSWORD}", roles=[Role.AGENT],
                regions=[regions[i % 2]])
import json
from knowledge.customers.models import Customer
ids = {{code: list(Customer.objects.filter(region__code=code).order_by("pk")
                  .values_list("pk", flat=True)[:200]) for code in ("north", "south")}}
print("CUSTOMERS " + json.dumps(ids))
"""


def _prepare(env: dict[str, str], out: Path) -> Path:
    """Migrate, static files, demo data and the agents; the customers file for locust."""
    _manage(env, "migrate", "--no-input")
    _manage(env, "collectstatic", "--no-input")  # the manifest production's pages need
    _manage(env, "seed_demo")
    printed = _manage(env, "shell", "-c", SEED_AGENTS)
    customers = out / "customers.json"
    customers.write_text(printed.split("CUSTOMERS ", 1)[1].strip())
    return customers


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Any:
    with log.open("ab") as out:
        child = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _documents_ready(env: dict[str, str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    count = ""
    while time.monotonic() < deadline:
        count = (
            _manage(
                env,
                "shell",
                "-c",
                "from knowledge.models import Document as D; "
                "print('left', D.objects.exclude(status__in=['ready','failed']).count())",
            )
            .split("left ")[-1]
            .split()[0]
        )
        if count == "0":
            return count
        time.sleep(2)
    raise SystemExit(f"{count} demo documents still not ingested after {timeout:.0f} s")


def _wait_ready(url: str, child: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if child.poll() is not None:
            raise SystemExit("gunicorn exited; see its log")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"/readyz not ready after {timeout:.0f} s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _locust(
    url: str, users: int, seconds: int, think: bool, out: Path, env: dict[str, str]
) -> list[dict[str, str]]:
    prefix = out / f"u{users}-{'think' if think else 'nothink'}"
    locust_env = {
        **env,
        "LOAD_CUSTOMERS": str(out / "customers.json"),
        "LOAD_PASSWORD": PASSWORD,
        "LOAD_ACCOUNTS": str(ACCOUNTS),
        "LOAD_THINK": "1" if think else "0",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL"):
        locust_env.pop(name, None)
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or "locust"
    subprocess.run(
        [
            locust,
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(max(users // 2, 1)),
            "-t",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "10",
        ],
        cwd=ROOT,
        env=locust_env,
        check=False,
    )
    with Path(f"{prefix}_stats.csv").open() as stats:
        return list(csv.DictReader(stats))


def _table(title: str, rows: list[dict[str, str]]) -> str:
    lines = [
        f"### {title}",
        "",
        "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "**all**"
        method = f"{row['Type']} " if row["Type"] else ""
        lines.append(
            f"| {method}{name} | {row['Request Count']} | {row['Failure Count']} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} | "
            f"{float(row['Max Response Time']):.0f} |"
        )
    return "\n".join(lines)


def _total(rows: list[dict[str, str]]) -> dict[str, str]:
    return next(row for row in rows if row["Name"] == "Aggregated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cold", action="store_true", help="also run with the warm-up off")
    parser.add_argument("--steps", default="10,20,30,50", help="users per step, think time")
    parser.add_argument("--saturation", default="10,25,50,100", help="users per step, no think")
    options = parser.parse_args()

    from tests.support.openai_server import fake_openai_server

    out = Path(tempfile.mkdtemp(prefix="portal-load-"))
    print(f"logs and CSV: {out}", flush=True)
    with ExitStack() as stack:
        model = stack.enter_context(fake_openai_server())
        env = _environment(_services(), model.base_url, out)
        _prepare(env, out)
        stack.enter_context(
            _process(
                [
                    _python(),
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "--concurrency=1",
                    "--loglevel=WARNING",
                ],
                env,
                out / "worker.log",
            )
        )
        _documents_ready(env, 600)

        def run_web(warm: bool) -> tuple[str, ExitStack]:
            port = _free_port()
            web_env = {
                **env,
                "EMBEDDING_WARM_ON_START": "1" if warm else "0",
                "WEB_CONCURRENCY": str(options.workers),
                "GUNICORN_THREADS": str(options.threads),
                "GUNICORN_BIND": f"127.0.0.1:{port}",
            }
            web = ExitStack()
            child = web.enter_context(
                _process(
                    [_python(), "-m", "gunicorn", "--access-logfile", "-"],
                    web_env,
                    out / f"gunicorn-{'warm' if warm else 'cold'}.log",
                )
            )
            url = f"http://127.0.0.1:{port}"
            ready = _wait_ready(url, child, 300)
            print(f"gunicorn ({'warm' if warm else 'cold'} start) ready in {ready:.1f} s")
            return url, web

        report = [
            f"Machine: {os.cpu_count()} CPUs; gunicorn {options.workers} workers x "
            f"{options.threads} threads (gthread), production settings; date "
            f"{time.strftime('%Y-%m-%d')}",
            "",
        ]
        url, web = run_web(warm=True)
        with web:
            steady = _locust(url, options.users, options.seconds, True, out, env)
            report.append(_table(f"{options.users} users, {options.seconds} s, warm start", steady))
            for title, think, counts in (
                ("Steps (think time 0.5 to 2 s, 30 s per step)", True, options.steps),
                ("Saturation (no think time, 30 s per step)", False, options.saturation),
            ):
                steps = []
                for users in (int(u) for u in counts.split(",") if u):
                    total = _total(_locust(url, users, 30, think, out, env))
                    steps.append(
                        f"| {users} | {float(total['Requests/s']):.1f} | {total['50%']} | "
                        f"{total['95%']} | {total['99%']} | {total['Failure Count']} |"
                    )
                report += [
                    "",
                    f"### {title}",
                    "",
                    "| users | req/s | p50 ms | p95 ms | p99 ms | failures |",
                    "| ---: | ---: | ---: | ---: | ---: | ---: |",
                    *steps,
                ]
        if options.cold:
            url, web = run_web(warm=False)
            with web:
                cold = _locust(url, options.users, options.seconds, True, out, env)
                report += [
                    "",
                    _table(f"{options.users} users, {options.seconds} s, no warm-up", cold),
                ]
        print("\n" + "\n".join(report))


if __name__ == "__main__":
    main()
