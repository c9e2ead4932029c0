"""Conversation memory on one SQLite file: turns, facts, FTS5 BM25 and exact vectors.

Threading: one connection opened with ``check_same_thread=False`` and every use of it
(and of the in-memory vector matrix) is serialised by one ``threading.Lock``. SQLite
serialises writers anyway, and reads here take milliseconds, so a connection pool
would add complexity without speed. Embedding happens outside the lock.

Every public method blocks (disk and CPU): run it off the event loop.
Nothing is ever rewritten in bulk: an insert appends one row per table (the FTS5 row
comes from a trigger) and one row to the in-memory matrix. No pickle: vectors are
stored as raw little-endian float32 blobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from tars.services.memory import queries
from tars.services.memory.embedder import Embedder, Vectors
from tars.services.memory.ranking import DEFAULT_RRF_K, reciprocal_rank_fusion
from tars.services.memory.records import (
    MemoryQuery,
    MemoryResults,
    TurnRecord,
    turn_embedding_text,
)
from tars.services.memory.schema import SchemaError, connect, migrate, transaction
from tars.services.memory.vectors import KIND_FACT, KIND_TURN, VectorIndex

_LOGGER = logging.getLogger(__name__)

_VECTOR_DTYPE = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Sizes of a memory store."""

    turns: int
    """Stored turns."""
    facts: int
    """Stored facts."""
    vector_bytes: int
    """RAM held by the in-memory vector matrix (bytes)."""
    open_seconds: float
    """Time taken to open the file and load its vectors (s)."""


class MemoryStore:
    """Stores turns and facts and answers ``MemoryQuery`` requests.

    Args:
        path: The SQLite file (created with its parent folder when missing).
        embedder: Embeds documents and queries; its ``name`` is recorded in the file
            and must match on later opens.
        batch_size: Texts per embedder call when ingesting.
        rrf_k: Reciprocal-rank-fusion constant for ``hybrid``.

    Raises:
        SchemaError: The file's schema is newer than this code, or it was written
            with a different embedder.
    """

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        *,
        batch_size: int = 32,
        rrf_k: int = DEFAULT_RRF_K,
    ) -> None:
        started = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._embedder = embedder
        self._batch_size = max(1, batch_size)
        self._rrf_k = rrf_k
        self._lock = threading.Lock()
        self._conn = connect(str(path))
        try:
            migrate(self._conn)
            self._check_embedder()
            self._index = VectorIndex(embedder.dim)
            self._load_vectors()
        except BaseException:
            self._conn.close()
            raise
        self._open_seconds = time.perf_counter() - started
        _LOGGER.info(
            "memory store %s open: %s vectors in %.2f s",
            path,
            len(self._index),
            self._open_seconds,
        )

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def add_turns(self, turns: Sequence[TurnRecord]) -> list[int]:
        """Embed and store whole turns in one transaction.

        Blocking (embedding dominates): run it off the event loop. The service buffers
        incoming turns and flushes them here in batches.

        Returns:
            The new turn ids, in input order.
        """
        if not turns:
            return []
        vectors = self._embed([turn_embedding_text(t.user_text, t.reply) for t in turns])
        rows = [
            (t.user_text, t.reply, t.satellite, t.ts, t.request_id, _to_blob(v))
            for t, v in zip(turns, vectors, strict=True)
        ]
        with self._lock, transaction(self._conn):
            ids = [
                int(
                    self._conn.execute(
                        "INSERT INTO turns (user_text, reply, satellite, ts, request_id,"
                        " embedding) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        row,
                    ).fetchone()[0]
                )
                for row in rows
            ]
            self._index.add(KIND_TURN, ids, vectors)
        return ids

    def add_fact(self, text: str, *, satellite: str | None = None, ts: float | None = None) -> int:
        """Embed and store one standalone fact ("the user's sister is called Ana").

        Returns:
            The new fact id.
        """
        vectors = self._embed([text])
        stamp = time.time() if ts is None else ts
        with self._lock, transaction(self._conn):
            (fact_id,) = self._conn.execute(
                "INSERT INTO facts (text, satellite, ts, embedding) VALUES (?, ?, ?, ?)"
                " RETURNING id",
                (text, satellite, stamp, _to_blob(vectors[0])),
            ).fetchone()
            self._index.add(KIND_FACT, [fact_id], vectors)
        return int(fact_id)

    def query(self, request: MemoryQuery) -> MemoryResults:
        """Answer ``request`` with its strategy, context and token budget applied.

        Blocking (embeds the query for ``hybrid``/``similarity``): run it off the loop.
        """
        query_vector = None
        if request.retrieval_strategy != "recent":
            query_vector = self._embed([request.text])[0]
        with self._lock:
            hits = self._rank(request, query_vector)
            groups = queries.assemble(self._conn, hits, request)
        return queries.budgeted(request, groups)

    def stats(self) -> StoreStats:
        """Counts and memory use."""
        with self._lock:
            (turns,) = self._conn.execute("SELECT count(*) FROM turns").fetchone()
            (facts,) = self._conn.execute("SELECT count(*) FROM facts").fetchone()
            return StoreStats(int(turns), int(facts), self._index.nbytes, self._open_seconds)

    def _rank(
        self, request: MemoryQuery, query_vector: Vectors | None
    ) -> list[tuple[queries.DocKey, float | None]]:
        if query_vector is None:
            return [(key, None) for key in queries.recent_keys(self._conn, request.top_k)]
        if request.retrieval_strategy == "similarity":
            found = self._index.search(query_vector, request.top_k)
            return [((kind, doc_id), score) for kind, doc_id, score in found]
        # hybrid: 2 x top_k candidates from each ranker, fused by reciprocal rank.
        candidates = 2 * request.top_k
        by_vector = [
            (kind, doc_id) for kind, doc_id, _ in self._index.search(query_vector, candidates)
        ]
        by_text = queries.bm25_keys(self._conn, request.text, candidates)
        fused = reciprocal_rank_fusion([by_vector, by_text], self._rrf_k)
        return [(key, score) for key, score in fused[: request.top_k]]

    def _embed(self, texts: list[str]) -> Vectors:
        parts = [
            self._embedder.embed(texts[i : i + self._batch_size])
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def _check_embedder(self) -> None:
        wanted = f"{self._embedder.name}/{self._embedder.dim}"
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        if row is None:
            with transaction(self._conn):
                self._conn.execute("INSERT INTO meta VALUES ('embedder', ?)", (wanted,))
        elif row[0] != wanted:
            raise SchemaError(
                f"memory database {self.path} holds {row[0]} vectors, but the embedder is "
                f"{wanted}; use another MEMORY_DB_FILE or the original embedder"
            )

    def _load_vectors(self) -> None:
        (rows,) = self._conn.execute(
            "SELECT (SELECT count(*) FROM turns) + (SELECT count(*) FROM facts)"
        ).fetchone()
        # Exact size plus headroom, rather than the next power of two: 100k turns
        # would otherwise hold 131k rows (50 MB more).
        self._index.reserve(int(rows) + 1024)
        for kind, table in ((KIND_TURN, "turns"), (KIND_FACT, "facts")):
            cursor = self._conn.execute(f"SELECT id, embedding FROM {table} ORDER BY id")
            while chunk := cursor.fetchmany(4096):
                ids = [row[0] for row in chunk]
                blob = b"".join(row[1] for row in chunk)
                vectors = np.frombuffer(blob, dtype=_VECTOR_DTYPE).reshape(len(ids), -1)
                self._index.add(kind, ids, vectors.astype(np.float32))


def _to_blob(vector: Vectors) -> bytes:
    """Serialise one vector as raw little-endian float32 (never pickle)."""
    return np.ascontiguousarray(vector, dtype=_VECTOR_DTYPE).tobytes()
