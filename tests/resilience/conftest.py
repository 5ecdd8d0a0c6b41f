"""Fixtures of the fault tests: a broker of the test's own, the fake OpenAI server as the
embedding service of worker subprocesses, and clean-up of every process a test started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.resilience.support import Process, Valkey, celery_publishing_to
from tests.support.openai_server import FakeOpenAI, fake_openai_server


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Append what you start; everything is stopped (by its own pid) at the end."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


@pytest.fixture
def broker(tmp_path: Path, embedded_services: None) -> Iterator[Valkey]:
    """A Valkey of this test's own (free port, data in tmp_path), which this process's
    Celery app publishes to while the test runs; the session's broker is left alone."""
    valkey = Valkey(tmp_path)
    valkey.start()
    try:
        with celery_publishing_to(valkey.url):
            yield valkey
    finally:
        valkey.stop()


@pytest.fixture
def embedding_service() -> Iterator[FakeOpenAI]:
    """The fake OpenAI server, used by worker subprocesses as their embedding service:
    deterministic vectors; clearing its ``gate`` holds a run in its embedding call."""
    with fake_openai_server() as fake:
        yield fake


@pytest.fixture
def worker_env(embedding_service: FakeOpenAI) -> dict[str, Any]:
    """Environment of worker subprocesses: embeddings from the fake server (no local model
    to load, so a worker is ready in seconds)."""
    return {
        "EMBEDDING_BACKEND": "openai",
        "EMBEDDING_MODEL": "fake-embedding",
        "OPENAI_BASE_URL": embedding_service.base_url,
        "OPENAI_API_KEY": "sk-test",
        "EMBEDDING_MAX_RETRIES": "0",
        "EMBEDDING_TIMEOUT_SECONDS": "120",
    }
