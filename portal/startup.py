"""What a web or worker process does once when it starts: the registered warm-ups.

Called when the WSGI application is loaded (``portal/wsgi.py``: each gunicorn worker, the
dev stack's ``runserver``) and in each Celery worker process (``portal/celery.py``,
``worker_process_init``). Each warm-up decides itself whether it is wanted (the knowledge
app's embedding model: ``EMBEDDING_WARM_ON_START``), so tests and one-off commands stay fast.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings

from portal import registry

logger = logging.getLogger(__name__)

# Set in a Celery worker before its prefork pool starts (portal/celery.py): how many
# processes share this machine's cores. In the environment, so that pool processes that
# are spawned rather than forked (macOS, worker_pool_start_method) see it too.
POOL_PROCESSES_VARIABLE = "PORTAL_POOL_PROCESSES"


def cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota
    (Celery's own measure for sizing a pool)."""
    from celery.utils.sysinfo import cpu_budget  # type: ignore[attr-defined]  # 5.7, not in the stubs

    return int(cpu_budget().count)


def pool_processes_set(processes: int) -> None:
    """This process starts a pool of ``processes`` worker processes (0: none)."""
    if processes > 0:
        os.environ[POOL_PROCESSES_VARIABLE] = str(processes)
    else:
        os.environ.pop(POOL_PROCESSES_VARIABLE, None)


def compute_threads() -> int:
    """Threads a local model may use in this process (0: the library's default, one per
    core): ``EMBEDDING_TORCH_THREADS`` when set; in a Celery pool process, the cores divided
    among the pool's processes. With the default, each of two pool processes on two cores
    used both: they contended for the cores with each other and with PostgreSQL
    (docs/benchmarks.md, "Ingestion speed")."""
    if settings.EMBEDDING_TORCH_THREADS > 0:
        return int(settings.EMBEDDING_TORCH_THREADS)
    try:
        processes = int(os.environ.get(POOL_PROCESSES_VARIABLE, "0"))
    except ValueError:
        processes = 0
    if processes > 0:
        return max(1, cores() // processes)
    return 0


def warm_up() -> None:
    """Run every registered warm-up; a failure is logged (``/readyz`` then says not ready)."""
    for warmup in registry.warmups():
        started = time.monotonic()
        try:
            warmup.run()
        except Exception:
            logger.exception("Warm-up %r failed", warmup.name)
        else:
            logger.info("Warm-up %r done in %.2f s", warmup.name, time.monotonic() - started)


def warm_up_on_start() -> None:
    """What a web process calls when it loads: ``warm_up`` before serving (production), or
    in the background with ``WARM_UP_IN_BACKGROUND`` (the dev stack: it answers at once)."""
    if settings.WARM_UP_IN_BACKGROUND:
        warm_up_in_background()
    else:
        warm_up()


def warm_up_in_background() -> threading.Thread:
    """``warm_up`` in a daemon thread, for a start-up hook that must return quickly (Celery
    kills a pool process that is not up within a few seconds); the first task that needs what
    is loading waits for it."""
    thread = threading.Thread(target=warm_up, name="portal-warm-up", daemon=True)
    thread.start()
    return thread
