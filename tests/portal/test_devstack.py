"""The embedded-service launcher: start, reuse, stop, and clear errors."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
import redis

from portal.devstack.services import EmbeddedPostgres, EmbeddedValkey, ServiceError, port_is_free


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # postgres runs as an unprivileged user when we are root: it must reach the folder.
    tmp_path.chmod(0o755)
    return tmp_path


def test_postgres_start_reuse_stop(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBEDDED_PG_SHARED_BUFFERS", raising=False)
    server = EmbeddedPostgres(pgdata=workdir / "pgdata", port=_free_port())
    try:
        assert server.start() is True
        assert server.is_running()
        assert server.start() is False  # reused, not started twice
        server.ensure_database("launcher_check")
        server.ensure_database("launcher_check")  # idempotent
        with psycopg.connect(
            host=server.host, port=server.port, user="postgres", dbname="launcher_check"
        ) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            row = conn.execute("SELECT '[1,2,3]'::vector <=> '[1,2,3]'::vector").fetchone()
            assert row is not None
            assert row[0] == 0
    finally:
        server.stop()
    assert not server.is_running()
    assert port_is_free(server.host, server.port)
    # Data persists: a second start finds the initialised cluster.
    assert (workdir / "pgdata" / "PG_VERSION").exists()
    monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS", "64MB")
    try:
        assert server.start() is True
        with psycopg.connect(
            host=server.host, port=server.port, user="postgres", dbname="launcher_check"
        ) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone() == ("64MB",)
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["lots", "4 GB", "0MB", "-1GB", "4GB; DROP"])
def test_a_bad_shared_buffers_size_is_refused_clearly(
    value: str, monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    from portal.devstack import config

    monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS", value)
    with pytest.raises(ValueError, match="EMBEDDED_PG_SHARED_BUFFERS"):
        config.postgres_shared_buffers()
    server = EmbeddedPostgres(pgdata=workdir / "pgdata", port=_free_port())
    with pytest.raises(ServiceError, match="give a size such as"):
        server.start()  # a clear message, before anything is created
    assert not (workdir / "pgdata").exists()
    monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS", "4GB")
    assert config.postgres_shared_buffers() == "4GB"


def test_valkey_start_reuse_stop(workdir: Path) -> None:
    server = EmbeddedValkey(data_dir=workdir / "valkey", port=_free_port())
    try:
        assert server.start() is True
        assert server.start() is False
        assert redis.Redis(host=server.host, port=server.port).ping()
    finally:
        server.stop()
    assert not server.is_running()
    assert port_is_free(server.host, server.port)


def test_taken_port_gives_clear_message(workdir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = int(blocker.getsockname()[1])
        with pytest.raises(ServiceError, match=rf"port 127\.0\.0\.1:{port} is already in use"):
            EmbeddedValkey(data_dir=workdir / "valkey", port=port).start()
        with pytest.raises(ServiceError, match="EMBEDDED_PG_PORT"):
            EmbeddedPostgres(pgdata=workdir / "pgdata", port=port).start()
