"""The audit trail's hash chain: proof that no event was changed, removed or slipped in.

Every ``AuditEvent`` gets a place in one chain: ``seq`` (1, 2, 3 ...), ``prev_hash`` (the
previous event's hash; 64 zeros for the first) and ``hash`` = SHA-256 of ``prev_hash`` and
the event's canonical content (``portal_auditevent_content``: a JSON array of its columns).
The database computes it (``portal_auditevent_seal_pending``, migration 0009) under an
advisory lock that keeps the chain linear, just after the transaction that wrote the
events commits (``seal_pending``, registered with ``on_commit`` by ``audit_event_record``),
and the beat task seals any straggler. Sealing after the commit, in a transaction of its
own that takes no other lock, is deliberate: sealing inside the writer's transaction would
hold the chain's lock while that transaction waits for row locks (deferred foreign-key
checks included), and two writers could deadlock (docs/records.md).

``verify`` recomputes the chain in one SQL pass and reports the first broken link: a
changed event (its hash no longer matches its content), a removed one (a gap in ``seq``),
one inserted or reordered (its ``prev_hash`` is not its predecessor's hash). A rewrite of
the whole chain is caught by the **anchors**: signed checkpoints of the head (``AuditAnchor``,
HMAC-SHA256 with ``AUDIT_ANCHOR_KEYS``, and a line in ``AUDIT_ANCHOR_PATH`` when set).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from portal.models import AuditAnchor, AuditEvent

log = logging.getLogger(__name__)

GENESIS = "0" * 64


def seal_pending(max_rows: int = 100_000, only_ids: list[int] | None = None) -> int:
    """Give committed, unsealed events their place in the chain (``only_ids``: those
    events, found by primary key; None: every pending one); returns how many."""
    # One statement: in autocommit (after a commit, where on_commit runs) it is its own
    # transaction, one round trip; inside a transaction it joins it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT portal_auditevent_seal_pending(%s, %s::bigint[])", [max_rows, only_ids]
        )
        return int(cursor.fetchone()[0])


_PENDING = "portal_audit_unsealed_ids"


def _seal_after_commit() -> None:
    ids = getattr(connection, _PENDING, [])
    setattr(connection, _PENDING, [])
    if ids:
        seal_pending(only_ids=ids)


def seal_on_commit(event_id: int) -> None:
    """Seal event ``event_id`` just after its transaction commits (one sealing per
    transaction, for all its events; at once outside a transaction)."""
    pending: list[int] = getattr(connection, _PENDING, [])
    pending.append(event_id)
    setattr(connection, _PENDING, pending)
    callbacks = getattr(connection, "run_on_commit", [])
    if not any(entry[1] is _seal_after_commit for entry in callbacks):
        transaction.on_commit(_seal_after_commit, robust=True)


# --- verification ------------------------------------------------------------------------


@dataclass
class Break:
    seq: int
    event_id: int | None
    problem: str  # "content", "link", "gap", "start", "unsealed"
    detail: str


@dataclass
class Verification:
    checked: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str
    breaks: list[Break] = field(default_factory=list)
    anchors_checked: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.breaks


_CHAIN = """
WITH chain AS (
    SELECT id, seq, prev_hash, hash,
           encode(sha256(convert_to(prev_hash || portal_auditevent_content(e), 'UTF8')), 'hex')
               AS recomputed,
           lag(hash) OVER (ORDER BY seq) AS before_hash,
           lag(seq) OVER (ORDER BY seq) AS before_seq
    FROM portal_auditevent e
    WHERE seq IS NOT NULL AND seq BETWEEN %(low)s AND %(high)s
)
SELECT seq, id,
       CASE WHEN recomputed <> hash THEN 'content'
            WHEN before_seq IS NOT NULL AND seq <> before_seq + 1 THEN 'gap'
            ELSE 'link' END
FROM chain
WHERE seq >= %(first)s AND (
    recomputed <> hash
    OR (before_seq IS NOT NULL AND (seq <> before_seq + 1 OR prev_hash <> before_hash))
    OR (seq = 1 AND prev_hash <> %(genesis)s))
ORDER BY seq
LIMIT %(limit)s
"""

_DETAIL = {
    "content": "the event's content no longer matches its hash: it was changed after sealing",
    "gap": "events are missing before this one: removed",
    "link": "its previous-hash is not the previous event's hash: inserted, reordered or "
    "the chain was rewritten from here",
    "start": "the chain does not start at 1: its first events were removed",
    "unsealed": "an event older than the sealing delay has no place in the chain",
    "truncated": "the trail ends before an anchored event: its newest events were removed",
}


def seq_range(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    """The first and last ``seq`` of the events created in [start, end]."""
    events = AuditEvent.objects.filter(seq__isnull=False)
    if start is not None:
        events = events.filter(created_at__gte=start)
    if end is not None:
        events = events.filter(created_at__lte=end)
    first = events.order_by("seq").values_list("seq", flat=True).first()
    last = events.order_by("-seq").values_list("seq", flat=True).first()
    return first, last


def verify(
    *,
    first: int | None = None,
    last: int | None = None,
    limit: int = 10,
    seal: bool = True,
    unsealed_grace_seconds: int = 300,
) -> Verification:
    """Check the chain between ``first`` and ``last`` (seq, both included; default all) and
    every anchor in that range; report up to ``limit`` breaks, the first one first."""
    started = timezone.now()
    if seal:
        seal_pending()
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
    low = first or 1
    high = last or (head.seq if head and head.seq else 0)
    breaks: list[Break] = []
    with connection.cursor() as cursor:
        cursor.execute(
            _CHAIN,
            {
                "low": max(low - 1, 1),
                "high": high,
                "first": low,
                "genesis": GENESIS,
                "limit": limit,
            },
        )
        for seq, event_id, problem in cursor.fetchall():
            breaks.append(Break(seq, event_id, problem, _DETAIL[problem]))
    smallest = AuditEvent.objects.filter(seq__isnull=False).order_by("seq").first()
    if first is None and smallest is not None and smallest.seq != 1:
        breaks.insert(0, Break(smallest.seq or 0, smallest.pk, "start", _DETAIL["start"]))
    stale = AuditEvent.objects.filter(
        seq__isnull=True,
        created_at__lt=timezone.now() - timedelta(seconds=unsealed_grace_seconds),
    ).order_by("id")[:limit]
    breaks.extend(Break(0, e.pk, "unsealed", _DETAIL["unsealed"]) for e in stale)
    anchors = 0
    if last is None:  # the whole trail up to its head: an anchor past the head is a loss
        for anchor in _anchors(high + 1, 2**62):
            anchors += 1
            breaks.append(Break(anchor["seq"], None, "truncated", _truncated(anchor, high)))
    in_range = _anchors(low, high)
    anchored = [int(a["seq"]) for a in in_range if "unreadable" not in a]
    hashes = {
        int(seq): value
        for seq, value in AuditEvent.objects.filter(seq__in=anchored).values_list("seq", "hash")
        if seq is not None
    }
    # With no gap from seq 1 (checked above), the events up to seq S are S of them: no
    # count per anchor (hourly anchors over years would make that quadratic).
    contiguous = first is None and not any(b.problem in ("gap", "start") for b in breaks)
    for anchor in in_range:
        anchors += 1
        problem = _anchor_problem(anchor, hashes, contiguous)
        if problem:
            breaks.append(Break(anchor["seq"], None, "anchor", problem))
    breaks.sort(key=lambda b: (b.seq == 0, b.seq))
    return Verification(
        checked=max(high - low + 1, 0),
        first_seq=low if high else None,
        last_seq=high or None,
        head_hash=head.hash if head else GENESIS,
        breaks=breaks[:limit],
        anchors_checked=anchors,
        seconds=(timezone.now() - started).total_seconds(),
    )


# --- anchors -------------------------------------------------------------------------------


def _keys() -> list[bytes]:
    keys = [key.encode() for key in settings.AUDIT_ANCHOR_KEYS if key]
    if not keys:  # a key of its own is for production (docs/records.md); else the secret key's
        keys = [hmac.new(settings.SECRET_KEY.encode(), b"audit-anchor", "sha256").digest()]
    return keys


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _payload(anchor: dict[str, Any]) -> bytes:
    return (
        f"{anchor['key_id']}|{anchor['seq']}|{anchor['hash']}|{anchor['events']}|"
        f"{anchor['created_at']}"
    ).encode()


def _sign(anchor: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _payload(anchor), "sha256").hexdigest()


def document_sign(payload: bytes) -> tuple[str, str]:
    """(key id, HMAC-SHA256) of ``payload`` under the first anchor key: for records that
    vouch for something later, such as erasure certificates."""
    key = _keys()[0]
    return _key_id(key), hmac.new(key, payload, "sha256").hexdigest()


def document_signed(payload: bytes, key_id: str, signature: str) -> bool:
    """Whether ``signature`` is the HMAC of ``payload`` under the anchor key ``key_id``."""
    for key in _keys():
        if _key_id(key) == key_id:
            expected = hmac.new(key, payload, "sha256").hexdigest()
            return hmac.compare_digest(expected, signature)
    return False


def anchor_write() -> AuditAnchor | None:
    """Seal, then sign the chain's head into an anchor (and a line of AUDIT_ANCHOR_PATH).
    None when the trail is empty."""
    seal_pending()
    head = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
    if head is None or head.seq is None:
        return None
    key = _keys()[0]
    now = timezone.now()
    record: dict[str, Any] = {
        "key_id": _key_id(key),
        "seq": head.seq,
        "hash": head.hash,
        "events": AuditEvent.objects.filter(seq__isnull=False, seq__lte=head.seq).count(),
        "created_at": now.isoformat(),
    }
    record["signature"] = _sign(record, key)
    anchor = AuditAnchor.objects.create(
        created_at=now,
        seq=record["seq"],
        hash=record["hash"],
        events=record["events"],
        key_id=record["key_id"],
        signature=record["signature"],
    )
    path = settings.AUDIT_ANCHOR_PATH
    if path:
        # Append-only by the way it is opened; make the file system or bucket write-once.
        with Path(path).open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")
    return anchor


def _anchors(low: int, high: int) -> list[dict[str, Any]]:
    """The anchors of [low, high] from the database and, when set, AUDIT_ANCHOR_PATH."""
    found = [
        {
            "key_id": a.key_id,
            "seq": a.seq,
            "hash": a.hash,
            "events": a.events,
            "created_at": a.created_at.isoformat(),
            "signature": a.signature,
        }
        for a in AuditAnchor.objects.filter(seq__gte=low, seq__lte=high).order_by("seq")
    ]
    path = settings.AUDIT_ANCHOR_PATH
    if path and Path(path).exists():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                if low <= int(record["seq"]) <= high:
                    found.append(record)
            except (ValueError, KeyError, TypeError):
                found.append({"seq": 0, "unreadable": line[:80]})
    return found


def _truncated(anchor: dict[str, Any], head: int) -> str:
    return (
        f"an anchor of {anchor.get('created_at')} vouches for events up to seq "
        f"{anchor.get('seq')}, but the trail ends at {head}: its newest events were removed"
    )


def _anchor_problem(anchor: dict[str, Any], hashes: dict[int, str], contiguous: bool) -> str:
    if "unreadable" in anchor:
        return f"an unreadable line in the anchor file: {anchor['unreadable']!r}"
    keys = {_key_id(key): key for key in _keys()}
    key = keys.get(str(anchor.get("key_id")))
    if key is None:
        return f"signed with an unknown key ({anchor.get('key_id')})"
    if not hmac.compare_digest(_sign(anchor, key), str(anchor.get("signature", ""))):
        return "its signature does not match: the anchor was altered"
    if hashes.get(int(anchor["seq"])) != anchor["hash"]:
        return (
            f"the chain at {anchor['seq']} is not what was anchored on {anchor['created_at']}: "
            "the chain was rewritten"
        )
    count = (
        int(anchor["seq"])
        if contiguous
        else AuditEvent.objects.filter(seq__isnull=False, seq__lte=anchor["seq"]).count()
    )
    if count != anchor["events"]:
        return f"{anchor['events']} events were anchored up to {anchor['seq']}, {count} remain"
    return ""
