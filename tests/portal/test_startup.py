"""portal/startup.py: the embedding model is loaded when a web or worker process starts."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from django.test import override_settings

from portal import registry, startup


class _Backend:
    def __init__(self) -> None:
        self.loaded = False
        self.warmed = 0

    def warm(self) -> None:
        self.warmed += 1
        self.loaded = True


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> _Backend:
    import knowledge.embeddings

    fake = _Backend()
    monkeypatch.setattr(knowledge.embeddings, "get_backend", lambda: fake)
    return fake


def test_the_knowledge_app_registers_its_warm_up() -> None:
    assert [warmup.name for warmup in registry.warmups()] == ["embedding model"]


@override_settings(EMBEDDING_WARM_ON_START=True)
def test_warm_up_loads_the_model(backend: _Backend) -> None:
    startup.warm_up()
    assert backend.warmed == 1 and backend.loaded


@override_settings(EMBEDDING_WARM_ON_START=False)
def test_tests_and_commands_do_not_warm_up(backend: _Backend) -> None:
    startup.warm_up()
    assert backend.warmed == 0


@override_settings(EMBEDDING_WARM_ON_START=True)
def test_a_failed_warm_up_is_logged_not_fatal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import knowledge.embeddings

    class Broken:
        def warm(self) -> None:
            raise RuntimeError("no model")

    monkeypatch.setattr(knowledge.embeddings, "get_backend", Broken)
    startup.warm_up()
    assert "Warm-up 'embedding model' failed" in caplog.text


@override_settings(EMBEDDING_WARM_ON_START=True)
def test_celery_pool_processes_warm_up_in_the_background(backend: _Backend) -> None:
    from celery.signals import worker_process_init

    worker_process_init.send(sender=None)
    for thread in threading.enumerate():
        if thread.name == "portal-warm-up":
            thread.join(timeout=10)
    assert backend.warmed == 1


@pytest.mark.parametrize(("background", "expected"), [(False, "now"), (True, "thread")])
def test_web_processes_warm_up_when_the_wsgi_application_loads(
    monkeypatch: pytest.MonkeyPatch, settings: Any, background: bool, expected: str
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(startup, "warm_up", lambda: calls.append("now"))
    monkeypatch.setattr(startup, "warm_up_in_background", lambda: calls.append("thread"))
    settings.WARM_UP_IN_BACKGROUND = background
    monkeypatch.delitem(sys.modules, "portal.wsgi", raising=False)
    importlib.import_module("portal.wsgi")
    assert calls == [expected]


def test_the_local_model_reports_loaded_after_warm_up(settings: Any) -> None:
    from knowledge.embeddings import LocalBackend, get_backend

    fresh = LocalBackend(settings.EMBEDDING_MODEL, settings.EMBEDDING_BATCH_SIZE)
    assert fresh.loaded is False  # constructing it loads nothing
    backend = get_backend()  # the process's own (loaded once per test session)
    backend.warm()
    assert isinstance(backend, LocalBackend) and backend.loaded is True


@pytest.fixture
def no_pool(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(startup.POOL_PROCESSES_VARIABLE, raising=False)
    yield
    startup.pool_processes_set(0)


@override_settings(EMBEDDING_TORCH_THREADS=0)
def test_a_pool_process_gets_its_share_of_the_cores(no_pool: None) -> None:
    cores = startup.cores()
    assert cores >= 1
    assert startup.compute_threads() == 0  # outside a pool: the library's default
    startup.pool_processes_set(2)
    assert startup.compute_threads() == max(1, cores // 2)
    startup.pool_processes_set(cores * 4)
    assert startup.compute_threads() == 1  # never none
    with override_settings(EMBEDDING_TORCH_THREADS=3):
        assert startup.compute_threads() == 3  # set explicitly: taken as it is
    startup.pool_processes_set(0)
    assert startup.compute_threads() == 0


@override_settings(EMBEDDING_TORCH_THREADS=0)
def test_a_spawned_pool_process_learns_its_share_from_the_environment(no_pool: None) -> None:
    """Pool processes started with spawn (macOS) import everything again: the count
    travels in the environment, which they inherit."""
    startup.pool_processes_set(startup.cores() * 2)
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'portal.settings.test'); django.setup(); "
        "from portal import startup; print(startup.compute_threads())"
    )
    env = {**os.environ, "EMBEDDING_TORCH_THREADS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "1"


@override_settings(EMBEDDING_TORCH_THREADS=0)
def test_a_real_worker_tells_its_pool_processes_how_many_they_are(no_pool: None) -> None:
    import billiard.pool
    from celery.worker import WorkController

    from portal.celery import app

    mutex, lock = app.clock.mutex, billiard.pool.Lock
    try:
        # Built, not started: its worker_init signal runs before the pool starts.
        WorkController(app=app, pool_cls="prefork", concurrency=2, autoscale="6,1")
    finally:  # what building it patches for its event loop
        app.clock.mutex, billiard.pool.Lock = mutex, lock
    assert os.environ.get(startup.POOL_PROCESSES_VARIABLE) == "6"  # autoscale's maximum


class _Worker:
    """What the signal's handler reads of a WorkController (signal senders must hash)."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


@override_settings(EMBEDDING_TORCH_THREADS=0)
@pytest.mark.parametrize(
    ("worker", "processes"),
    [
        ({"pool_cls": "prefork", "concurrency": 2}, 2),
        ({"pool_cls": "prefork", "concurrency": 5, "options": {"autoscale": [3, 1]}}, 5),
        ({"pool_cls": "prefork", "concurrency": "auto"}, -1),  # one per core
        ({"pool_cls": "solo", "concurrency": 2}, 0),
        ({"pool_cls": "threads", "concurrency": 4}, 0),
    ],
)
def test_the_pool_size_seen_by_the_worker_init_signal(
    no_pool: None, worker: dict[str, Any], processes: int
) -> None:
    from celery.signals import worker_init

    import portal.celery  # noqa: F401 - connects the handler

    startup.pool_processes_set(9)  # a solo worker clears what it inherited
    worker_init.send(sender=_Worker(**{"options": {}, **worker}))
    expected = startup.cores() if processes == -1 else processes
    assert os.environ.get(startup.POOL_PROCESSES_VARIABLE, "0") == str(expected)


@override_settings(EMBEDDING_TORCH_THREADS=0)
def test_the_local_model_takes_the_pool_processes_share(no_pool: None) -> None:
    import torch

    from knowledge.embeddings import LocalBackend

    before = torch.get_num_threads()
    startup.pool_processes_set(startup.cores() * 2)  # one thread each
    try:
        LocalBackend("all-MiniLM-L6-v2", batch_size=8).embed(["a first text"])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
