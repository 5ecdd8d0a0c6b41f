"""Benchmark the audit trail's hash chain (portal/audit_chain.py).

1. What the chain adds to writing an event: ``audit_event_record`` in its own committed
   transaction, with the sealing that follows the commit and without it (the same code,
   sealing switched off), alternating in rounds; medians and p95 in µs and their ratio.
2. Sealing a backlog in one go (µs per event), e.g. after a burst or a crash.
3. Verification speed (events/s) over the whole trail.

Run: .venv/bin/python bench/audit_chain.py [--events N] [--trail N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from _setup import django_for_bench


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000, help="timed writes per variant")
    parser.add_argument("--trail", type=int, default=200_000, help="events to verify")
    args = parser.parse_args()
    # As in production: with DEBUG every query is also formatted for connection.queries,
    # which costs ~0.45 ms a query here and would hide what the chain costs.
    os.environ.setdefault("DJANGO_DEBUG", "0")
    django_for_bench()
    from django.db import connection, transaction

    from portal import audit_chain, services
    from portal.models import AuditEvent

    def write() -> float:
        """One event in its own transaction; the sealing (when on) runs at the commit."""
        started = time.perf_counter()
        with transaction.atomic():
            services.audit_event_record(
                action="bench.chain", actor_username="bench", details={"n": 1, "k": "v"}
            )
        return time.perf_counter() - started

    original = services.seal_on_commit
    timings: dict[bool, list[float]] = {True: [], False: []}
    audit_chain.seal_pending()
    for _ in range(args.events // 100):
        for sealed in (True, False):
            services.seal_on_commit = original if sealed else (lambda event_id: None)
            for _ in range(100):
                timings[sealed].append(write() * 1e6)
            services.seal_on_commit = original
            audit_chain.seal_pending()  # the unsealed round's events, untimed
    on, off = timings[True], timings[False]
    for label, values in (("with sealing:   ", on), ("without sealing:", off)):
        print(
            f"write + commit, {label} median {statistics.median(values):7.0f} µs, "
            f"p95 {_p95(values):7.0f} µs"
        )
    print(
        f"chain cost per event: median +{statistics.median(on) - statistics.median(off):.0f} µs "
        f"(x{statistics.median(on) / statistics.median(off):.2f})"
    )

    # A backlog: events inserted without sealing, then sealed in one call.
    backlog = 20_000
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO portal_auditevent (created_at, actor_username, action, target_type, "
            "target_id, request_id, details) SELECT now(), 'bench', 'bench.backlog', '', "
            "g::text, '', jsonb_build_object('n', g) FROM generate_series(1, %s) g",
            [backlog],
        )
    started = time.perf_counter()
    sealed_count = audit_chain.seal_pending(max_rows=backlog)
    seconds = time.perf_counter() - started
    print(f"sealing a backlog of {sealed_count}: {seconds * 1e6 / sealed_count:.0f} µs per event")

    missing = args.trail - AuditEvent.objects.count()
    while missing > 0:
        batch = min(missing, 50_000)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO portal_auditevent (created_at, actor_username, action, "
                "target_type, target_id, request_id, details) SELECT now(), 'bench', "
                "'bench.trail', 'auth.user', g::text, '', jsonb_build_object('n', g, 'q', "
                "md5(g::text)) FROM generate_series(1, %s) g",
                [batch],
            )
        audit_chain.seal_pending(max_rows=batch)
        missing -= batch
    runs = []
    for _ in range(3):
        result = audit_chain.verify()
        assert result.ok, result.breaks
        runs.append(result.checked / result.seconds)
    print(
        f"verification: {result.checked} events, median {statistics.median(runs):,.0f} events/s "
        f"(3 runs)"
    )


if __name__ == "__main__":
    main()
