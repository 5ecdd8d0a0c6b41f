"""Test fixtures: the real embedded PostgreSQL + pgvector and Valkey (or DATABASE_URL /
REDIS_URL when set), a real Celery worker, and users with roles."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.devstack.__main__ import start_services, stop_services
from portal.permissions import Role


def _xdist_controller(config: pytest.Config) -> bool:
    """Whether this is the controller of a parallel run (``pytest -n N``; make test)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """In a parallel run the controller starts the embedded servers before the workers
    start (they reuse them, each with a database and a broker database of its own) and
    stops them when all are done: a worker that stopped what it started would pull them
    from under the others."""
    if _xdist_controller(config):
        config.stash[_STARTED] = start_services()
        # The workers (and what they start) tell the run's broker from a test's own by this.
        os.environ["PORTAL_TEST_RUN_REDIS_URL"] = os.environ.get("REDIS_URL", "")


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_services(config.stash.get(_STARTED, []))


_STARTED = pytest.StashKey[list[Any]]()
# Files that take minutes: first, so that in a parallel run the others fill the rest of the
# workers' time instead of leaving one worker alone at the end.
# (make test keeps this order: --no-loadscope-reorder.)
_LONGEST_FIRST = (
    "tests/security/",
    "tests/portal/test_launcher_run.py",
    "tests/resilience/",
    "tests/browser/",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(_LONGEST_FIRST) if path.startswith(prefix)), 99)

    items.sort(key=rank)  # stable: the order within each group is kept


@pytest.fixture(scope="session")
def embedded_services() -> Iterator[None]:
    """Start the embedded servers unless already running; stop only what we started."""
    started = start_services()
    yield
    stop_services(started)


@pytest.fixture(scope="session")
def django_db_setup(embedded_services: None, django_db_setup: None) -> None:
    """pytest-django's database set-up, once the servers are up."""


@pytest.fixture
def regions(db: None) -> dict[str, Any]:
    from portal.services import region_ensure

    return {
        "north": region_ensure(code="north", name="North branch"),
        "south": region_ensure(code="south", name="South branch"),
    }


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """make_user("name", Role.AGENT, regions=[...]) -> a user with those roles."""
    from portal.services import user_ensure

    def _make(username: str, *roles: Role, regions: list[Any] | None = None, **extra: Any) -> Any:
        user, _ = user_ensure(
            username=username,
            password=extra.pop("password", "correct horse battery staple"),
            roles=roles,
            regions=regions or [],
            **extra,
        )
        return user

    return _make


@pytest.fixture
def celery_worker_thread(transactional_db: None, embedded_services: None) -> Iterator[Any]:
    """A real Celery worker (threads) consuming from the real broker."""
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False) as worker:
        yield worker
