"""The Celery app, configured from Django settings under the ``CELERY_`` namespace.

Worker processes also warm up (``portal.startup``: the embedding model when
``EMBEDDING_WARM_ON_START``), time their tasks for ``/metrics``
(``portal_celery_task_duration_seconds``) and, with ``CELERY_METRICS_PORT``, serve those
metrics themselves (docs/operations.md).
"""

import contextlib
import logging
import os
import time
from typing import Any

from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.local")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
_task_started: dict[str, float] = {}


@worker_process_init.connect
def _warm_up(**kwargs: Any) -> None:
    # In a thread: Celery gives a new pool process only a few seconds to report for duty.
    from portal.startup import warm_up_in_background

    warm_up_in_background()


@task_prerun.connect
def _task_prerun(task_id: str = "", **kwargs: Any) -> None:
    _task_started[task_id] = time.monotonic()


@task_postrun.connect
def _task_postrun(task_id: str = "", task: Any = None, state: str = "", **kwargs: Any) -> None:
    started = _task_started.pop(task_id, None)
    if started is None or task is None:
        return
    from portal.metrics import celery_task_observe

    celery_task_observe(
        task=task.name, state=state or "UNKNOWN", seconds=time.monotonic() - started
    )


@worker_init.connect
def _share_the_cores(sender: Any = None, **kwargs: Any) -> None:
    """A prefork pool's processes divide the cores among them (``compute_threads``): as
    many as ``--concurrency`` (or the most ``--autoscale`` may start)."""
    from celery.concurrency import get_implementation
    from celery.concurrency.prefork import TaskPool

    from portal.startup import cores, pool_processes_set

    pool = get_implementation(getattr(sender, "pool_cls", None) or "prefork")
    if not (isinstance(pool, type) and issubclass(pool, TaskPool)):
        pool_processes_set(0)  # solo, threads, gevent: one process
        return
    concurrency = getattr(sender, "concurrency", None)
    if not isinstance(concurrency, int) or concurrency < 1:  # "auto": one per core
        concurrency = cores()
    autoscale = (getattr(sender, "options", None) or {}).get("autoscale")
    if isinstance(autoscale, str):
        autoscale = autoscale.split(",")
    if autoscale:
        with contextlib.suppress(TypeError, ValueError):
            concurrency = max(int(str(autoscale[0])), concurrency)
    pool_processes_set(concurrency)


@worker_init.connect
def _serve_metrics(**kwargs: Any) -> None:
    from django.conf import settings

    port = settings.CELERY_METRICS_PORT
    if not port:
        return
    import prometheus_client
    from prometheus_client import CollectorRegistry, multiprocess

    registry: Any = prometheus_client.REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        logger.warning(
            "CELERY_METRICS_PORT without PROMETHEUS_MULTIPROC_DIR: tasks run in pool "
            "processes, whose metrics this process cannot see (docs/operations.md)."
        )
    prometheus_client.start_http_server(
        port, addr=settings.CELERY_METRICS_ADDRESS, registry=registry
    )
    logger.info("Worker metrics on %s:%s/metrics", settings.CELERY_METRICS_ADDRESS, port)


@worker_process_shutdown.connect
def _forget_process_metrics(pid: int | None = None, **kwargs: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
