"""Test fixtures: the real embedded PostgreSQL + pgvector and Valkey (or DATABASE_URL /
REDIS_URL when set), a real Celery worker, and users with roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.devstack.__main__ import start_services, stop_services
from portal.permissions import Role


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
