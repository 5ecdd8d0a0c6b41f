"""Benchmark the assistant's time around the model: what the portal spends per answer.

``answer()`` end to end on the 100k-chunk corpus of ``bench/search.py`` (reused with
``--reuse``), with the fake OpenAI server of the tests answering at once ("... [1]"), so
that almost all of the time is the portal's: question checks and storage, history,
retrieval (``chunk_search`` with the real query embedding), customer lookup, prompt
building, citation check and rendering, answer storage and audit. Model time is the
``model_ms`` of the "assistant.answer" audit event; portal time = total - model.

Two scenarios: a policy question, and a question that names a customer (50 demo customers;
the agent may see their region). Also the extractive path (no language model) for
comparison. The components are timed by wrapping module-level functions of the answer
pipeline (``assistant.answering``: ``questions``, ``pipeline``, ``prompt``, ``model_answer``)
where they are called, in this script only; the app code is unchanged.

Run: .venv/bin/python bench/assistant.py --reuse [--questions N] [--chunks N]
     [--torch-threads N] [--no-prewarm]
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import re
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from _setup import django_for_bench
from search import WORDS_PER_TOPIC, load, percentile

TARGET_P95_MS = 150.0
ANSWER = "The sources answer this question briefly [1]."
SIMPLE_NAME = re.compile(r"^[A-Z][a-z]+ [A-Z][a-z]+$")

# Rows of the report: (key, label); ``ask`` fills the keys for every timed answer.
ROWS = [
    ("total", "total wall time of `answer()`"),
    ("model", "model calls (`model_ms`, fake server answering at once)"),
    ("llm_client", "… of which building the OpenAI client"),
    ("portal", "**portal time = total - model**"),
    ("portal_client", "portal time + OpenAI client setup"),
    ("question", "question checks + storage"),
    ("rate_limit", "… of which rate-limit check (see caveat)"),
    ("history", "history (previous turns)"),
    ("retrieval", "retrieval (`chunk_search`, incl. query embedding)"),
    ("embedding", "… of which query embedding (local model)"),
    ("customers", "customer lookup (named + in focus + record text)"),
    ("prompt", "prompt building (messages + tool specs)"),
    ("extractive", "extractive answerer"),
    ("finish", "citation check + rendering"),
    ("storage", "answer storage (message + audit)"),
    ("other", "other (permission checks, conversation lookup, overhead)"),
    ("sql_ms", "time in SQL (all queries of the answer)"),
    ("sql_count", "SQL queries per answer (count)"),
]


class Recorder:
    """Accumulates the time spent in wrapped functions during one answer."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, key: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.current[key] += (time.perf_counter() - started) * 1000

        setattr(owner, name, timed)

    @contextmanager
    def sql(self) -> Iterator[None]:
        from django.db import connection

        def counted(execute: Callable[..., Any], sql: str, params: Any, many: bool,
                    context: Any) -> Any:  # fmt: skip
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.current["sql_ms"] += (time.perf_counter() - started) * 1000
                self.current["sql_count"] += 1

        with connection.execute_wrapper(counted):
            yield


class TimedQueries:
    """The real local model embeds every query (so its cost is measured), but the search
    uses the planned vector near a topic centre, as in ``bench/search.py`` (the synthetic
    corpus is not made of real text, so the model's own vector would land nowhere)."""

    def __init__(self, real: Any, vectors: dict[str, np.ndarray], recorder: Recorder) -> None:
        self.real = real
        self.model_id = real.model_id
        self.vectors = vectors
        self.recorder = recorder

    def embed_query(self, text: str) -> np.ndarray:
        started = time.perf_counter()
        vector = self.real.embed_query(text)
        self.recorder.current["embedding"] += (time.perf_counter() - started) * 1000
        return self.vectors.get(text, vector)


def instrument(recorder: Recorder) -> None:
    import assistant.answering.llm as llm
    import assistant.answering.model_answer as model_answer
    import assistant.answering.pipeline as pipeline
    import assistant.answering.prompt as prompt
    import assistant.answering.questions as questions

    # Each name is wrapped in the module that calls it.
    for owner, name, key in [
        (questions, "_user_message_store", "question"),
        (questions, "_rate_limit_check", "rate_limit"),
        (pipeline, "history", "history"),
        (pipeline, "gather_sources", "gather"),
        (prompt, "chunk_search", "retrieval"),
        (pipeline, "model_messages", "prompt"),
        (model_answer, "tool_specs", "prompt"),
        (pipeline, "_extractive", "extractive"),
        (pipeline, "_finish", "finish_all"),
        (pipeline, "_assistant_message_store", "storage"),
    ]:
        recorder.wrap(owner, name, key)
    recorder.wrap(llm, "_client", "llm_client")


def prewarm() -> float:
    """Read the search tables and their indexes (and TOAST) into the OS page cache, as on a
    server that has been answering for a while; returns the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cursor.execute(
            """
            SELECT sum(pg_prewarm(r.oid, 'read')) FROM pg_class r
            WHERE r.oid IN (
                SELECT c.oid FROM pg_class c WHERE c.relname = ANY(%(tables)s)
                UNION SELECT c.reltoastrelid FROM pg_class c
                      WHERE c.relname = ANY(%(tables)s) AND c.reltoastrelid <> 0
                UNION SELECT i.indexrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                      WHERE c.relname = ANY(%(tables)s)
            )
            """,
            {"tables": ["knowledge_chunk", "knowledge_posting", "knowledge_document"]},
        )
    return time.perf_counter() - started


def questions(data: dict[str, Any], count: int, names: list[str] | None) -> list[tuple[str, Any]]:
    """(question, planned query vector) built from a topic's words, like search.py's."""
    rng, centers, vocabulary = data["rng"], data["centers"], data["vocabulary"]
    made = []
    for i in range(count):
        topic = int(rng.integers(0, len(centers)))
        vector = centers[topic] + 0.9 * rng.standard_normal(len(centers[topic]))
        words = " ".join(
            vocabulary[data["topic_words"][topic, rng.integers(0, WORDS_PER_TOPIC, 4)]]
        )
        if names is None:
            text = f"What does the policy say about {words}?"
        else:
            text = f"What does the rule on {words} mean for {names[i % len(names)]}?"
        made.append((text, (vector / np.linalg.norm(vector)).astype(np.float32)))
    return made


@dataclass
class Case:
    """One path (language model or extractive) and scenario (policy or customer question)."""

    path: str
    scenario: str
    asked: list[tuple[str, Any]]
    rows: list[dict[str, float]] = field(default_factory=list)
    checks: dict[str, int] = field(
        default_factory=lambda: {"errors": 0, "cited": 0, "with_customer": 0}
    )
    conversation: Any = None


def ask(recorder: Recorder, user: Any, case: Case, i: int, warmup: int, turns: int) -> None:
    """Answer question ``i`` of ``case`` (``turns`` questions per conversation) and record
    its times unless it is one of the ``warmup`` first."""
    from assistant.answering import answer
    from assistant.services import conversation_create
    from portal.models import AuditEvent

    text = case.asked[i][0]
    if i % turns == 0 or i == warmup:
        case.conversation = conversation_create(owner=user, title="bench")
    recorder.current = defaultdict(float)
    with recorder.sql():
        started = time.perf_counter()
        message = answer(user=user, conversation=case.conversation, text=text)
        total = (time.perf_counter() - started) * 1000
    if i < warmup:
        return
    event = AuditEvent.objects.get(
        action="assistant.answer", target_type="assistant.message", target_id=str(message.pk)
    )
    t = recorder.current
    row = {
        "total": total,
        "model": float(event.details["model_ms"]),
        "llm_client": t["llm_client"],
        "question": t["question"],
        "rate_limit": t["rate_limit"],
        "history": t["history"],
        "retrieval": t["retrieval"],
        "embedding": t["embedding"],
        "customers": t["gather"] - t["retrieval"],
        "prompt": t["prompt"],
        "extractive": t["extractive"],
        "finish": t["finish_all"] - t["storage"],
        "storage": t["storage"],
        "sql_ms": t["sql_ms"],
        "sql_count": t["sql_count"],
    }
    row["portal"] = total - row["model"]
    row["portal_client"] = row["portal"] + row["llm_client"]
    parts = ("question", "history", "retrieval", "customers", "prompt", "extractive",
             "finish", "storage")  # fmt: skip
    row["other"] = row["portal"] - sum(row[p] for p in parts)
    case.rows.append(row)
    case.checks["errors"] += bool(message.error)
    case.checks["cited"] += bool(message.citations)
    case.checks["with_customer"] += any(
        r.get("type") == "customer" for r in message.source_record_ids
    )


def summary(rows: list[dict[str, float]], key: str) -> tuple[float, float, float]:
    values = [row[key] for row in rows]
    return statistics.median(values), percentile(values, 95), statistics.fmean(values)


def table(results: dict[str, list[dict[str, float]]], keys: list[str]) -> list[str]:
    names = list(results)
    head = "| per answer, ms | " + " | ".join(f"{n} p50 | {n} p95 | {n} mean" for n in names)
    lines = [head + " |", "| --- |" + " ---: |" * (3 * len(names))]
    labels = dict(ROWS)
    for key in keys:
        cells = []
        for name in names:
            p50, p95, mean = summary(results[name], key)
            digits = 0 if key == "sql_count" else 1
            cells += [f"{p50:.{digits}f}", f"{p95:.{digits}f}", f"{mean:.{digits}f}"]
        label = labels[key]
        if key == "portal":
            cells = [f"**{c}**" for c in cells]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kb = int(meminfo.readline().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    python = platform.python_version()
    return f"{os.cpu_count()} CPU cores{memory}, {platform.machine()}, Python {python}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--collections", type=int, default=20)
    parser.add_argument("--questions", type=int, default=200, help="Timed answers per scenario.")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--turns", type=int, default=5, help="Questions per conversation.")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="Keep an already loaded corpus.")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch threads for the query embedding (default 0: as EMBEDDING_TORCH_THREADS, "
        "which the dev stack sets to 1 for the web process; 0 leaves torch's own).",
    )
    parser.add_argument(
        "--no-prewarm",
        dest="prewarm",
        action="store_false",
        help="Do not read the search tables into the OS page cache first (cold start).",
    )
    args = parser.parse_args()
    # Measure as in production: DEBUG off (DEBUG keeps every SQL statement in memory).
    os.environ.setdefault("DJANGO_DEBUG", "false")
    load_before = os.getloadavg()
    django_for_bench()

    from django.conf import settings
    from django.db import connection

    import knowledge.selectors as selectors
    from assistant.models import Conversation
    from knowledge.customers.demo import seed_customers
    from knowledge.customers.models import Customer
    from knowledge.embeddings import get_backend
    from knowledge.models import Chunk, Collection
    from portal.models import Region
    from portal.permissions import Role
    from portal.services import user_ensure
    from tests.support.openai_server import fake_openai_server

    data = load(args.chunks, args.collections, settings.EMBEDDING_DIMENSIONS, args.seed, args.reuse)
    # The asker may read exactly two collections (10% of the rows), as in search.py.
    Collection.objects.filter(slug__in=data["readable"]).update(read_roles=["agent"])
    Collection.objects.exclude(slug__in=data["readable"]).update(read_roles=["admin"])
    seed_customers(count=args.customers)
    north = Region.objects.get(code="north")
    user, _ = user_ensure(username="bench-agent", password=uuid.uuid4().hex, roles=[Role.AGENT],
                          regions=[north])  # fmt: skip
    Conversation.objects.filter(owner=user).delete()  # earlier runs' messages
    names = list(
        Customer.objects.filter(region=north).order_by("customer_number")
        .values_list("full_name", flat=True)
    )  # fmt: skip
    names = [name for name in names if SIMPLE_NAME.match(name)]  # no "Dr." or "Jr."

    settings.ASSISTANT_RATE_LIMIT_PER_MINUTE = 1_000_000
    count = args.warmup + args.questions
    # Each path gets questions of its own: repeating a question would find its pages cached.
    asked = {
        path: {"policy": questions(data, count, None), "customer": questions(data, count, names)}
        for path in ("llm", "extractive")
    }
    vectors = {text: v for path in asked.values() for made in path.values() for text, v in made}
    warmed = prewarm() if args.prewarm else None
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    recorder = Recorder()
    real = get_backend()
    real.embed_query("warm up the model")
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    selectors.get_backend = lambda: TimedQueries(real, vectors, recorder)  # type: ignore[assignment]
    instrument(recorder)

    # The four cases take turns answer by answer, so that other jobs on the machine slow
    # them alike; each keeps its own conversations.
    cases = [Case(path, scenario, made) for path, made_by in asked.items()
             for scenario, made in made_by.items()]  # fmt: skip
    loads = []
    with fake_openai_server() as fake:
        fake.next_chat_reply = lambda: {"content": ANSWER}  # type: ignore[method-assign]
        settings.AZURE_OPENAI_ENDPOINT = ""
        settings.OPENAI_MODEL = "bench-model"
        settings.LLM_MAX_RETRIES = 0
        for i in range(count):
            for case in cases:
                with_model = case.path == "llm"
                settings.OPENAI_BASE_URL = fake.base_url if with_model else ""
                settings.OPENAI_API_KEY = "sk-bench" if with_model else ""
                ask(recorder, user, case, i, args.warmup, args.turns)
            loads.append(os.getloadavg()[0])
    results: dict[str, dict[str, list[dict[str, float]]]] = {"llm": {}, "extractive": {}}
    for case in cases:
        results[case.path][case.scenario] = case.rows
    load_after = os.getloadavg()

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    corpus = Chunk.objects.filter(collection__slug__regex=r"^bench-[0-9]+$").count()
    print(f"\n## Assistant: time around the model ({date.today().isoformat()})\n")
    print(f"Machine: {machine()}; PostgreSQL {postgres}; load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f} (1 min).")  # fmt: skip
    cache = f"prewarmed in {warmed:.0f} s" if warmed is not None else "not prewarmed (cold)"
    print(f"Search tables and indexes {cache} into the OS page cache; "
          f"torch threads {torch.get_num_threads()}.")  # fmt: skip
    print(
        f"Corpus: {corpus} chunks in {args.collections} collections, the agent reads 2; "
        f"k = {settings.ASSISTANT_MAX_SOURCES} sources; {args.questions} timed answers per "
        f"scenario after {args.warmup} warm-up; {args.turns} questions per conversation "
        f"(history {settings.ASSISTANT_HISTORY_MESSAGES} messages); "
        f"{args.customers} demo customers, {len(names)} nameable in the agent's region."
    )
    print(
        f"1-min load average during the run: min {min(loads):.2f}, median "
        f"{statistics.median(loads):.2f}, max {max(loads):.2f} (1.0 = one busy core)."
    )
    for case in cases:
        checked = case.checks
        print(
            f"- {case.path} {case.scenario}: errors {checked['errors']}, answers with "
            f"citations {checked['cited']}, with a customer source {checked['with_customer']} "
            f"(of {args.questions})"
        )

    print("\nWith the language model (fake server, answers at once):\n")
    print("\n".join(table(results["llm"], [key for key, _ in ROWS if key != "extractive"])))
    print("\nExtractive path (no language model configured):\n")
    keys = [k for k, _ in ROWS if k not in ("model", "llm_client", "prompt", "portal_client")]
    print("\n".join(table(results["extractive"], keys)))

    print()
    for scenario, rows in results["llm"].items():
        p95 = summary(rows, "portal")[1]
        verdict = "met" if p95 <= TARGET_P95_MS else "MISSED"
        print(
            f"Target portal-time p95 ≤ {TARGET_P95_MS:.0f} ms, {scenario}: {p95:.1f} ms — {verdict}"
        )


if __name__ == "__main__":
    main()
