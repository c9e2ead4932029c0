"""`tars bench memory`: ingest rate, query latency and top-1 accuracy at 1k, 10k and 100k turns.

1k turns are embedded for real with MiniLM. For 10k and 100k, embedding every turn for real
is used only when the measured embedding rate says it takes under two minutes; otherwise
the filler reuses a pool of distinct turns whose MiniLM vectors are computed once
(``embedding: pooled`` in the report), so the figures measure storage and retrieval at that
size rather than the embedder again. Queries and the evaluation facts are always embedded
for real.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tars.bench import report
from tars.bench.report import percentiles
from tars.bench.size import quick
from tars.runtime.settings import RuntimeSettings
from tars.services.memory.embedder import Embedder, OnnxMiniLmEmbedder, Vectors
from tars.services.memory.evalset import (
    EVAL_QUESTIONS,
    evaluate_top1,
    fact_turns,
    synthetic_turns,
)
from tars.services.memory.records import MemoryQuery, TurnRecord, turn_embedding_text
from tars.services.memory.store import MemoryStore

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
"""Store sizes with ``TARS_BENCH_QUICK=1`` (the 100k store takes most of the time)."""
POOL = 2_000
"""Distinct filler turns embedded for real when larger sizes use pooled vectors."""
REAL_EMBED_BUDGET_S = 120.0
INGEST_BATCH = 500
QUERIES = 200


class PooledEmbedder:
    """MiniLM with a cache of precomputed vectors (same name, so stores stay compatible)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._cache: dict[str, Vectors] = {}
        self.real_embeds = 0

    @property
    def name(self) -> str:
        """The wrapped embedder's name."""
        return self._inner.name

    @property
    def dim(self) -> int:
        """The wrapped embedder's dimension."""
        return self._inner.dim

    def warm(self, texts: list[str]) -> None:
        """Embed ``texts`` for real once and keep their vectors."""
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            for text, vector in zip(missing, self._inner.embed(missing), strict=True):
                self._cache[text] = vector

    def embed(self, texts: list[str]) -> Vectors:
        """Cached vectors where known, real embeddings for the rest."""
        missing = [t for t in texts if t not in self._cache]
        if missing:
            self.real_embeds += len(missing)
            self.warm(missing)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32)


def _filler(size: int, pooled: bool) -> list[TurnRecord]:
    if not pooled:
        return synthetic_turns(size, seed=3)
    pool = synthetic_turns(POOL, seed=3)
    return [
        replace(pool[i % POOL], ts=1_600_000_000.0 + 37.0 * i, request_id=f"bench-{i}")
        for i in range(size)
    ]


def _measure_size(
    size: int, embedder: Embedder, pooled: PooledEmbedder | None, directory: Path
) -> dict[str, Any]:
    filler = _filler(size, pooled is not None)
    chosen: Embedder = embedder
    if pooled is not None:
        started = time.perf_counter()
        pooled.warm([turn_embedding_text(t.user_text, t.reply) for t in filler[:POOL]])
        print(f"  pooled: {POOL} distinct turns embedded in {time.perf_counter() - started:.1f} s")
        chosen = pooled
    path = directory / f"memory-{size}.sqlite3"
    result: dict[str, Any] = {"turns": size, "embedding": "pooled" if pooled else "real"}
    with MemoryStore(path, chosen, batch_size=64) as store:
        started = time.perf_counter()
        for offset in range(0, size, INGEST_BATCH):
            store.add_turns(filler[offset : offset + INGEST_BATCH])
        ingest_s = time.perf_counter() - started
        store.add_turns(fact_turns())
        result["ingest_s"] = round(ingest_s, 2)
        result["ingest_turns_per_s"] = round(size / ingest_s, 1)
        texts = [q for q, _ in EVAL_QUESTIONS] + [t.user_text for t in filler[:QUERIES]]
        for strategy in ("hybrid", "similarity"):
            latencies = []
            for text in texts[:QUERIES]:
                started = time.perf_counter()
                store.query(MemoryQuery(text, top_k=5, retrieval_strategy=strategy))
                latencies.append((time.perf_counter() - started) * 1e3)
            result[f"query_ms_{strategy}"] = percentiles(latencies)
        evaluation = evaluate_top1(store)
        result["top1_correct"] = evaluation.correct
        result["top1_total"] = evaluation.total
        result["top1_accuracy"] = round(evaluation.accuracy, 3)
        stats = store.stats()
        result["vector_mib"] = round(stats.vector_bytes / 2**20, 1)
    result["file_mib"] = round(path.stat().st_size / 2**20, 1)
    with MemoryStore(path, chosen) as reopened:
        result["reopen_s"] = round(reopened.stats().open_seconds, 3)
    return result


def measure(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Run the memory benchmark in a temporary folder."""
    embedder = OnnxMiniLmEmbedder(intra_op_threads=1)
    sample = [turn_embedding_text(t.user_text, t.reply) for t in synthetic_turns(256, seed=99)]
    started = time.perf_counter()
    embedder.embed(sample)
    embed_rate = len(sample) / (time.perf_counter() - started)
    results: dict[str, Any] = {"embed_texts_per_s_1_thread": round(embed_rate, 1), "sizes": {}}
    print(f"bench memory: MiniLM embeds {embed_rate:.0f} turns/s on 1 thread", flush=True)
    with tempfile.TemporaryDirectory(prefix="tars-bench-memory-") as directory:
        for size in sizes:
            real = size <= 1_000 or size / embed_rate <= REAL_EMBED_BUDGET_S
            print(f"  {size} turns ({'real' if real else 'pooled'} embeddings) ...", flush=True)
            pooled = None if real else PooledEmbedder(embedder)
            outcome = _measure_size(size, embedder, pooled, Path(directory))
            results["sizes"][str(size)] = outcome
            hybrid = outcome["query_ms_hybrid"]
            print(
                f"  {size}: ingest {outcome['ingest_turns_per_s']:.0f} turns/s, hybrid query "
                f"p50 {hybrid['p50']:.1f} ms p99 {hybrid['p99']:.1f} ms, top-1 "
                f"{outcome['top1_correct']}/{outcome['top1_total']}",
                flush=True,
            )
    return results


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench memory`: measure, print the headline figures, write the report."""
    del runtime  # the store lives in a temporary folder
    results = {**measure(QUICK_SIZES if quick() else SIZES), "quick": quick()}
    chart: dict[str, float] = {}
    for size, outcome in results["sizes"].items():
        chart[f"{size} hybrid p50 ms"] = outcome["query_ms_hybrid"]["p50"]
        chart[f"{size} hybrid p99 ms"] = outcome["query_ms_hybrid"]["p99"]
    print(f"report: {report.write(out_dir, 'memory', results, chart)}")
    return 0
