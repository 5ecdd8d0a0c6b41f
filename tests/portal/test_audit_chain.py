"""The audit trail's hash chain (portal/audit_chain.py): sealed just after each commit,
linear with concurrent writers, and every kind of tampering by someone who bypasses the
append-only trigger (a database superuser) is found by audit_verify and the anchors."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.test import override_settings

from portal.audit_chain import GENESIS, anchor_write, seal_pending, verify
from portal.models import AuditAnchor, AuditEvent
from portal.services import audit_event_record

pytestmark = pytest.mark.django_db(transaction=True)


def _events(n: int, action: str = "test.chain") -> None:
    with transaction.atomic():
        for i in range(n):
            audit_event_record(action=action, actor_username="tester", details={"i": i})


@pytest.fixture
def tamper() -> Iterator[Any]:
    """SQL as a database superuser who switched the append-only trigger off."""

    def run(sql: str, params: list[Any] | None = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])

    run("ALTER TABLE portal_auditevent DISABLE TRIGGER USER")  # every trigger of the table
    yield run
    run("ALTER TABLE portal_auditevent ENABLE TRIGGER USER")


def test_events_are_sealed_in_one_chain_just_after_commit() -> None:
    with transaction.atomic():
        audit_event_record(action="test.chain", details={"i": 0})
        # Not before the commit: the chain's lock is never held by a writer's transaction.
        assert AuditEvent.objects.filter(seq__isnull=False).count() == 0
    _events(4)
    rows = list(AuditEvent.objects.order_by("seq"))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    result = verify()
    assert result.ok and result.checked == 5 and result.head_hash == rows[-1].hash


def test_a_rolled_back_event_leaves_no_trace_in_the_chain() -> None:
    _events(2)

    def rolled_back() -> None:
        with transaction.atomic():
            audit_event_record(action="test.chain", details={"i": "lost"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        rolled_back()
    _events(1)
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2, 3]
    assert verify().ok


def test_concurrent_writers_keep_one_linear_chain() -> None:
    def writer() -> None:
        try:
            for _ in range(10):
                _events(3, "test.concurrent")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seal_pending()
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 181))
    assert verify().ok


def test_a_changed_event_is_found(tamper: Any) -> None:
    _events(10)
    target = AuditEvent.objects.get(seq=6)
    tamper(
        "UPDATE portal_auditevent SET details = %s WHERE id = %s",
        [json.dumps({"i": "forged"}), target.pk],
    )
    result = verify()
    assert not result.ok
    first = result.breaks[0]
    assert (first.seq, first.event_id, first.problem) == (6, target.pk, "content")
    # Changing the stored hash too does not help: the next event's link breaks.
    tamper(
        "UPDATE portal_auditevent SET hash = encode(sha256(convert_to(e.prev_hash || "
        "portal_auditevent_content(e), 'UTF8')), 'hex') FROM portal_auditevent e "
        "WHERE portal_auditevent.id = e.id AND e.id = %s",
        [target.pk],
    )
    assert (verify().breaks[0].seq, verify().breaks[0].problem) == (7, "link")


def test_a_removed_event_is_found(tamper: Any) -> None:
    _events(10)
    tamper("DELETE FROM portal_auditevent WHERE seq = 4")
    first = verify().breaks[0]
    assert (first.seq, first.problem) == (5, "gap")
    tamper("DELETE FROM portal_auditevent WHERE seq IN (1, 2)")
    assert verify().breaks[0].problem == "start"


def test_an_event_inserted_in_the_middle_is_found(tamper: Any) -> None:
    _events(10)
    # Make room after seq 5, and insert a well-formed event there, chained to 5.
    tamper("UPDATE portal_auditevent SET seq = seq + 1000 WHERE seq > 5")
    tamper("UPDATE portal_auditevent SET seq = seq - 999 WHERE seq > 1000")
    tamper(
        "INSERT INTO portal_auditevent (created_at, actor_username, action, target_type, "
        "target_id, request_id, details, seq, prev_hash, hash) "
        "SELECT now(), 'intruder', 'test.forged', '', '', '', '{}', 6, hash, '' "
        "FROM portal_auditevent WHERE seq = 5"
    )
    tamper(
        "UPDATE portal_auditevent SET hash = encode(sha256(convert_to(e.prev_hash || "
        "portal_auditevent_content(e), 'UTF8')), 'hex') FROM portal_auditevent e "
        "WHERE portal_auditevent.id = e.id AND e.seq = 6"
    )
    first = verify().breaks[0]
    assert (first.seq, first.problem) == (7, "link")


def test_a_rewritten_chain_is_found_by_the_anchors(tamper: Any, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    with override_settings(AUDIT_ANCHOR_PATH=str(anchors)):
        _events(8)
        anchor = anchor_write()
        assert anchor is not None and anchor.seq == 8 and anchor.events == 8
        line = json.loads(anchors.read_text().splitlines()[0])
        assert line["hash"] == anchor.hash and line["signature"] == anchor.signature
        assert verify().ok and verify().anchors_checked == 2  # the row and the file's line
        # Truncate and rewrite: every event again, forged, and sealed into a new chain
        # that is consistent in itself.
        tamper("DELETE FROM portal_auditevent")
        _events(8, "test.rewritten")
        result = verify()
        assert not result.ok
        assert {b.problem for b in result.breaks} == {"anchor"}
        assert "rewritten" in result.breaks[0].detail


def test_a_forged_anchor_is_found() -> None:
    _events(3)
    anchor_write()
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE portal_auditanchor DISABLE TRIGGER portal_auditanchor_no_update_delete"
        )
        cursor.execute("UPDATE portal_auditanchor SET events = 2")
        cursor.execute(
            "ALTER TABLE portal_auditanchor ENABLE TRIGGER portal_auditanchor_no_update_delete"
        )
    result = verify()
    assert result.breaks[0].problem == "anchor" and "signature" in result.breaks[0].detail


def test_the_trail_and_its_anchors_stay_append_only() -> None:
    _events(2)
    anchor_write()
    for sql in (
        "UPDATE portal_auditevent SET action = 'x'",
        "UPDATE portal_auditevent SET seq = seq + 10",  # a sealed event's place is fixed
        "DELETE FROM portal_auditevent",
        "UPDATE portal_auditanchor SET events = 0",
        "DELETE FROM portal_auditanchor",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditAnchor.objects.count() == 1


def test_an_event_that_escaped_sealing_is_reported(tamper: Any) -> None:
    _events(2)
    tamper(
        "INSERT INTO portal_auditevent (created_at, actor_username, action, target_type, "
        "target_id, request_id, details) "
        "VALUES (now() - interval '1 hour', 'x', 'test.unsealed', '', '', '', '{}')"
    )
    result = verify(seal=False)
    assert [b.problem for b in result.breaks] == ["unsealed"]


def test_audit_verify_command(tamper: Any, capsys: Any) -> None:
    _events(5)
    call_command("audit_verify")
    assert "The chain is intact." in capsys.readouterr().out
    call_command("audit_verify", "--from", "2000-01-01", "--to", "2999-01-01")
    assert "Checked 5 events" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Not a date"):
        call_command("audit_verify", "--from", "2026-02-30")
    tamper("UPDATE portal_auditevent SET action = 'test.changed' WHERE seq = 3")
    with pytest.raises(CommandError) as failed:
        call_command("audit_verify")
    assert failed.value.returncode == 1
    assert "BROKEN at seq 3" in capsys.readouterr().out


def test_the_integrity_page(client: Any, make_user: Any, tamper: Any) -> None:
    from portal.models import AuditVerification
    from portal.permissions import Role
    from portal.records.verification import verification_run

    _events(3)
    anchor_write()
    client.force_login(make_user("chain_agent", Role.AGENT))
    assert client.get("/audit/verify/").status_code == 403  # like the audit trail itself
    assert client.post("/audit/verify/").status_code == 403
    client.force_login(make_user("chain_compliance", Role.COMPLIANCE))
    page = client.get("/audit/verify/")
    assert page.status_code == 200 and b"data-anchors" in page.content
    assert client.post("/audit/verify/").status_code == 302  # queued for a worker
    queued = AuditVerification.objects.get()
    assert b'data-verify-result="queued"' in client.get("/audit/verify/").content
    verification_run(queued.pk)  # what the worker's task does
    assert b'data-verify-result="ok"' in client.get("/audit/verify/").content
    tamper("UPDATE portal_auditevent SET actor_username = 'someone else' WHERE seq = 2")
    client.post("/audit/verify/")
    verification_run(AuditVerification.objects.order_by("-pk").first().pk)
    broken = client.get("/audit/verify/")
    assert b'data-verify-result="broken"' in broken.content and b"At seq 2" in broken.content
    assert AuditEvent.objects.filter(action="audit.verified").count() == 2
    assert AuditEvent.objects.filter(action="audit.verification_requested").count() == 2


def test_a_real_worker_runs_the_verification(
    client: Any, make_user: Any, celery_worker_thread: Any
) -> None:
    import time

    from portal.models import AuditVerification
    from portal.permissions import Role

    _events(3)
    client.force_login(make_user("chain_compliance2", Role.COMPLIANCE))
    client.post("/audit/verify/")
    deadline = time.monotonic() + 60
    verification = AuditVerification.objects.get()
    while verification.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        verification.refresh_from_db()
    assert verification.status == "done" and verification.ok is True


def test_removing_the_newest_events_is_found_by_the_anchors(tamper: Any) -> None:
    _events(6)
    anchor_write()
    _events(2)
    assert verify().ok
    tamper("DELETE FROM portal_auditevent WHERE seq >= 5")  # the tail, anchor's included
    breaks = verify().breaks
    assert [(b.seq, b.problem) for b in breaks] == [(6, "truncated")]
    assert "newest events were removed" in breaks[0].detail


def test_the_app_cannot_place_or_forge_a_seal() -> None:
    """The database role the portal runs as (no trigger switched off): an INSERT never
    chooses its place, and the only update allowed is the true next seal."""
    _events(2)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO portal_auditevent (created_at, actor_username, action, target_type, "
            "target_id, request_id, details, seq, prev_hash, hash) VALUES (now(), 'x', "
            "'test.placed', '', '', '', '{}', 9223372036854775807, 'p', 'h') RETURNING id"
        )
        placed = cursor.fetchone()[0]
    row = AuditEvent.objects.get(pk=placed)
    assert (row.seq, row.prev_hash, row.hash) == (None, "", "")
    for sql in (
        "UPDATE portal_auditevent SET seq = 9223372036854775807, prev_hash = 'p', hash = 'h' "
        "WHERE id = %s",
        "UPDATE portal_auditevent SET seq = 3, prev_hash = (SELECT hash FROM "
        "portal_auditevent WHERE seq = 2), hash = repeat('a', 64) WHERE id = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [placed])
    assert seal_pending() == 1 and verify().ok


def test_an_anchor_counts_the_events_it_vouches_for(tamper: Any) -> None:
    _events(6)
    anchor_write()
    assert verify().ok and verify().anchors_checked == 1
    tamper("DELETE FROM portal_auditevent WHERE seq = 3")
    problems = {(b.seq, b.problem): b.detail for b in verify().breaks}
    assert (4, "gap") in problems
    assert problems[(6, "anchor")] == "6 events were anchored up to 6, 5 remain"
