"""Real all-MiniLM-L6-v2 int8 embedder over a 1,000-turn store (figures printed, not asserted)."""

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tars.services.memory.embedder import OnnxMiniLmEmbedder
from tars.services.memory.evalset import (
    EVAL_FACTS,
    TARGET_TURNS,
    evaluate_top1,
    synthetic_turns,
)
from tars.services.memory.records import MemoryQuery, TurnRecord
from tars.services.memory.store import MemoryStore

pytestmark = pytest.mark.engine

FILLER_TURNS = 1000


@pytest.fixture(scope="session")
def embedder() -> OnnxMiniLmEmbedder:
    return OnnxMiniLmEmbedder(intra_op_threads=2)


@pytest.fixture(scope="module")
def store(
    embedder: OnnxMiniLmEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MemoryStore]:
    path: Path = tmp_path_factory.mktemp("memory") / "memory.sqlite3"
    filler = synthetic_turns(FILLER_TURNS, seed=7)
    # Hide each target turn at a different depth among the filler.
    turns = list(filler)
    for n, (user, reply, _) in enumerate(TARGET_TURNS):
        at = (n + 1) * FILLER_TURNS // (len(TARGET_TURNS) + 1)
        turns.insert(at, TurnRecord(user, reply, "local", filler[at].ts + 1.0, f"target-{n}"))
    started = time.perf_counter()
    with MemoryStore(path, embedder) as writer:
        for i in range(0, len(turns), 64):  # as the service flushes its buffer
            writer.add_turns(turns[i : i + 64])
        for fact in EVAL_FACTS:
            writer.add_fact(fact)
    elapsed = time.perf_counter() - started
    print(f"\ningest: {len(turns)} turns + {len(EVAL_FACTS)} facts in {elapsed:.2f} s "
          f"({(len(turns) + len(EVAL_FACTS)) / elapsed:.0f} docs/s)")  # fmt: skip
    with MemoryStore(path, embedder) as reopened:
        print(f"reopen: {reopened.stats().open_seconds * 1000:.1f} ms")
        yield reopened


def test_embeddings_separate_paraphrase_from_unrelated(embedder: OnnxMiniLmEmbedder) -> None:
    vectors = embedder.embed(
        ["turn on the kitchen lights", "switch the kitchen lamps on", "what is the capital of Peru"]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert vectors[0] @ vectors[1] > 0.6 > vectors[0] @ vectors[2]


def test_batching_does_not_change_vectors(embedder: OnnxMiniLmEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about the weather in Oslo", "mid length text"]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_store_survived_reopen(store: MemoryStore) -> None:
    stats = store.stats()
    assert (stats.turns, stats.facts) == (FILLER_TURNS + len(TARGET_TURNS), len(EVAL_FACTS))


@pytest.mark.parametrize(("user", "question"), [(u, q) for u, _, q in TARGET_TURNS])
def test_paraphrased_question_finds_target_turn_first(
    store: MemoryStore, user: str, question: str
) -> None:
    first = store.query(MemoryQuery(question)).results[0]
    assert first.user_text == user, first.document


@pytest.mark.parametrize(
    ("keyword", "user"), [("Rosa", TARGET_TURNS[3][0]), ("C14", TARGET_TURNS[0][0])]
)
def test_keyword_query_finds_target_turn_first(store: MemoryStore, keyword: str, user: str) -> None:
    assert store.query(MemoryQuery(keyword)).results[0].user_text == user


def test_eval_set_top1(store: MemoryStore) -> None:
    reports = {s: evaluate_top1(store, s) for s in ("hybrid", "similarity")}
    for strategy, report in reports.items():
        print(f"\n{strategy}: top-1 {report.correct}/{report.total} ({report.accuracy:.0%})")
        for question, got in report.misses:
            print(f"  miss: {question!r} -> {got!r}")
    # offline-models.md measured 14/14 for this model on facts alone; among 1,000
    # filler turns allow one miss.
    assert reports["hybrid"].correct >= 13
    assert reports["similarity"].correct >= 13


def test_query_latency(store: MemoryStore) -> None:
    questions = [q for _, _, q in TARGET_TURNS] * 20
    for strategy in ("hybrid", "similarity", "recent"):
        latencies = []
        for question in questions:
            started = time.perf_counter()
            result = store.query(MemoryQuery(question, retrieval_strategy=strategy))
            latencies.append(time.perf_counter() - started)
            assert len(result.results) == 5
        p50, p99 = np.percentile(latencies, [50, 99]) * 1000
        print(f"\n{strategy}: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(latencies)} queries")
