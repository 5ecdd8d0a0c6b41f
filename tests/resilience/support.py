"""Real processes and servers for the fault tests: a Valkey of the test's own, Celery workers
and a web server as subprocesses (so that they can be killed), and a TCP proxy in front of
PostgreSQL whose connections can be cut.

Every process started here is started in its own session and stopped by its own pid (or
process group); the kernel kills it if the test process dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
from django.db import connection

from portal.devstack.services import EmbeddedValkey

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    step: float = 0.1,
    log: Process | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail saying ``what`` (and the
    end of ``log``'s output) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- {log.name}:\n{log.output()[-4000:]}" if log is not None else ""
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(step)


def _die_with_us() -> None:  # runs in the child before exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def database_url(port: int | None = None) -> str:
    """The test database as a DATABASE_URL for a subprocess (optionally on another port)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{auth}{db['HOST']}:{port or db['PORT']}/{db['NAME']}"


# --------------------------------------------------------------------------- the broker


class Valkey:
    """A throwaway Valkey (the dev stack's own server class) on a free port under ``root``."""

    def __init__(self, root: Path) -> None:
        self.server = EmbeddedValkey(data_dir=root / "valkey", port=free_port())

    @property
    def url(self) -> str:
        return f"redis://{self.server.host}:{self.server.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> None:
        assert self.server.start(), "a Valkey already ran in this test's folder"

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): Valkey writes its snapshot first."""
        self.server.stop()

    def crash(self) -> None:
        """SIGKILL: whatever was not in a snapshot is gone."""
        pid = self.server.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        psutil.Process(pid).wait(timeout=10)

    def queue_length(self, queue: str = "celery") -> int:
        return int(self.client().llen(queue))

    def unacked(self) -> int:
        """Messages a worker took and has not acknowledged (kombu's Redis transport)."""
        return int(self.client().hlen("unacked"))


@contextlib.contextmanager
def celery_publishing_to(url: str) -> Iterator[None]:
    """This process's Celery app uses ``url`` as its broker and result backend, as the portal
    does with one REDIS_URL (the services enqueue through it)."""
    from portal.celery import app

    def forget_connections() -> None:
        if app._pool is not None:
            with contextlib.suppress(Exception):
                app._pool.force_close_all()
        app._after_fork()  # drops the connection and producer pools
        app._backend_cache = None
        vars(app._local).pop("backend", None)

    saved = app.conf.broker_url, app.conf.result_backend
    forget_connections()
    app.conf.broker_url = app.conf.result_backend = url
    try:
        yield
    finally:
        forget_connections()
        app.conf.broker_url, app.conf.result_backend = saved


# --------------------------------------------------------------------------- subprocesses


class Process:
    """A Django process of the portal (test settings) with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as output:
            self.handle = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", **env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_us,
            )

    @property
    def pid(self) -> int:
        return self.handle.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group (a worker and its pool processes)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.handle.wait(timeout=10)

    def stop(self) -> None:
        """At the end of a test: nothing to finish, so no graceful shutdown to wait for."""
        self.kill()


class Worker(Process):
    """``celery -A portal worker`` (prefork, one pool process) on the given broker."""

    def __init__(self, name: str, broker_url: str, env: dict[str, str], log_dir: Path) -> None:
        args = [
            "-m", "celery", "-A", "portal", "worker", "--pool=prefork", "--concurrency=1",
            "--loglevel=INFO", f"--hostname={name}@%h", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
        ]  # fmt: skip
        super().__init__(
            name,
            args,
            {"REDIS_URL": broker_url, "DATABASE_URL": database_url(), **env},
            log_dir / f"{name}.log",
        )

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until the worker consumes."""
        started = time.monotonic()
        wait_until(
            lambda: " ready." in self.output() or self.handle.poll() is not None,
            timeout,
            f"{self.name} to be ready:\n{self.output()[-3000:]}",
        )
        assert self.handle.poll() is None, f"{self.name} exited:\n{self.output()[-3000:]}"
        print(f"{self.name} ready in {time.monotonic() - started:.1f} s")
        return time.monotonic() - started

    def pool_pids(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.pid).children()]


class WebServer(Process):
    """The portal's WSGI application served by ``manage.py runserver`` (threaded)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        super().__init__(
            "web",
            ["manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload", "--skip-checks"],
            env,
            log_dir / "web.log",
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        def listening() -> bool:
            assert self.handle.poll() is None, f"web server exited:\n{self.output()[-3000:]}"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return True
            return False

        wait_until(listening, timeout, "the web server")


# --------------------------------------------------------------------------- the database


class TcpProxy:
    """Forwards a port of its own to PostgreSQL. ``cut()`` is what a restart (or a crash) of
    the server looks like to its clients: every open connection is closed and new ones are
    refused (the port is closed) until ``restore()``."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.accepted = 0
        self.cut_before: bytes | None = None  # cut when a client sends this (e.g. some SQL)
        self.cut_at: float | None = None

    def start(self) -> TcpProxy:
        self.restore()
        return self

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self._listener = listener
        self._stopped.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        self.cut_at = time.monotonic()
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    stop = cut

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.host, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _cut_here(self, data: bytes) -> bool:
        with self._lock:
            if self.cut_before is None or self.cut_before not in data:
                return False
            self.cut_before = None
            return True

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self._cut_here(data):
                        # The server never sees this message: every connection drops first.
                        self.cut()
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._sockets.discard(client)
                self._sockets.discard(upstream)
            for sock in (client, upstream):
                sock.close()
