"""In-memory brute-force vector index: a growable float32 matrix plus row keys.

Brute force is exact and, at 384 floats per row, one matrix-vector product over
100k rows takes a few milliseconds, so no approximate index is needed at this scale.
Not thread-safe on its own; the store guards it with its lock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_INITIAL_CAPACITY = 1024

KIND_TURN = 0
"""Key kind code of a turn row."""
KIND_FACT = 1
"""Key kind code of a fact row."""


class VectorIndex:
    """Unit vectors with (kind, id) keys; append-only, cosine top-k search."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._matrix = np.zeros((_INITIAL_CAPACITY, dim), dtype=np.float32)
        self._kinds = np.zeros(_INITIAL_CAPACITY, dtype=np.int8)
        self._ids = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the matrix and keys (capacity included)."""
        return int(self._matrix.nbytes + self._kinds.nbytes + self._ids.nbytes)

    def add(self, kind: int, ids: npt.ArrayLike, vectors: npt.NDArray[np.float32]) -> None:
        """Append ``vectors`` (shape ``[n, dim]``) keyed by ``kind`` and ``ids``."""
        ids_arr = np.asarray(ids, dtype=np.int64)
        n = len(ids_arr)
        if vectors.shape != (n, self.dim):
            raise ValueError(f"expected vectors of shape {(n, self.dim)}, got {vectors.shape}")
        self._reserve(self._size + n)
        end = self._size + n
        self._matrix[self._size : end] = vectors
        self._kinds[self._size : end] = kind
        self._ids[self._size : end] = ids_arr
        self._size = end

    def search(self, query: npt.NDArray[np.float32], top_k: int) -> list[tuple[int, int, float]]:
        """Return up to ``top_k`` ``(kind, id, cosine)`` tuples, best first."""
        if self._size == 0 or top_k < 1:
            return []
        scores = self._matrix[: self._size] @ query.astype(np.float32, copy=False)
        k = min(top_k, self._size)
        # argpartition is O(n); only the k winners get sorted.
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self._kinds[i]), int(self._ids[i]), float(scores[i])) for i in best]

    def reserve(self, rows: int) -> None:
        """Make room for exactly ``rows`` rows in total (used at open, before bulk loading)."""
        if rows > len(self._matrix):
            self._resize(rows)

    def _reserve(self, needed: int) -> None:
        capacity = len(self._matrix)
        if needed <= capacity:
            return
        # Doubling keeps appends amortised O(1) per row.
        while capacity < needed:
            capacity *= 2
        self._resize(capacity)

    def _resize(self, capacity: int) -> None:
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        kinds = np.zeros(capacity, dtype=np.int8)
        kinds[: self._size] = self._kinds[: self._size]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self._size] = self._ids[: self._size]
        self._matrix, self._kinds, self._ids = matrix, kinds, ids
