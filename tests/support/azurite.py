"""A real Azure Blob Storage for tests: Azurite (Microsoft's emulator, npm ``azurite`` in
``tests/azurite``), started on a free loopback port with ``--disableTelemetry`` (nothing
leaves the machine), its data in a temporary folder, stopped at exit::

    with azurite() as blob:
        blob.connection_string   # for AZURE_STORAGE_CONNECTION_STRING
        blob.env("portal-files") # STORAGE_BACKEND=azure ... for a subprocess

``npm ci`` in ``tests/azurite`` (``make test`` runs it; else the first use does) is the only
step that needs the npm registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.idp import free_port

AZURITE_DIR = Path(__file__).resolve().parent.parent / "azurite"
BINARY = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account (public, for the emulator only).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT_SECONDS = 30.0


class AzuriteError(RuntimeError):
    """Azurite could not be installed or started."""


@dataclass
class RunningAzurite:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        )

    def env(self, container: str) -> dict[str, str]:
        """The environment that points a portal process at this storage."""
        return {
            "STORAGE_BACKEND": "azure",
            "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
            "AZURE_STORAGE_CONTAINER": container,
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def ensure_installed() -> None:
    if BINARY.exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise AzuriteError("Node.js >= 20 and npm are needed once to install tests/azurite")
    lock_path = Path(tempfile.gettempdir()) / "portal-tests-azurite-npm-ci.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time (parallel test workers)
        if BINARY.exists():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=AZURITE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise AzuriteError(f"npm ci in {AZURITE_DIR} failed:\n{result.stderr[-4000:]}")


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@contextlib.contextmanager
def azurite() -> Iterator[RunningAzurite]:
    ensure_installed()
    with tempfile.TemporaryDirectory(prefix="portal-azurite-") as tmp:
        port = free_port()
        log_path = Path(tmp) / "azurite.log"
        command = [str(BINARY), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
        command += ["--location", str(Path(tmp) / "data"), "--silent", "--loose"]
        command += ["--skipApiVersionCheck", "--disableTelemetry"]  # nothing leaves the host
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=AZURITE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        running = RunningAzurite(port, log_path, process)
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not _listening(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AzuriteError(f"Azurite did not start:\n{running.log()[-3000:]}")
                time.sleep(0.1)
            yield running
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
