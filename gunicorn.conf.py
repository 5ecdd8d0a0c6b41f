"""gunicorn's settings for the portal: ``gunicorn`` in this folder reads them by itself
(docs/operations.md). Every value can still be given on the command line."""

import os

wsgi_app = "portal.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # behind the reverse proxy
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Streamed answers hold a thread for as long as the model takes: threads, and a timeout
# above LLM_TIMEOUT_SECONDS with its retries and tool rounds.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "180"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Idle keep-alive connections (held by the poller, not by threads) are closed after this
# many seconds. gunicorn's default, 2 s, races clients that reuse a connection after about
# that long: the request meets a closing socket (ConnectionResetError; bench/load.py saw 9
# in 1,252 requests). Keep it above the reverse proxy's upstream idle timeout.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
# Off, so that each worker imports portal.wsgi after the fork and loads the embedding model
# (EMBEDDING_WARM_ON_START) in its own process, before its first request. (A model loaded
# in the master and used by forked workers risks torch's thread pools hanging.)
preload_app = False
# Web processes embed one short query at a time: one torch thread keeps latency steady.
os.environ.setdefault("EMBEDDING_TORCH_THREADS", "1")


def child_exit(server: object, worker: object) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, a dead worker's live gauges stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
