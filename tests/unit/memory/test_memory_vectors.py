import numpy as np
import numpy.typing as npt
import pytest

from tars.services.memory.vectors import KIND_FACT, KIND_TURN, VectorIndex


def _unit(rows: int, dim: int, seed: int) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    unit: npt.NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def test_growth_keeps_every_row_searchable() -> None:
    index = VectorIndex(16)
    vectors = _unit(3000, 16, seed=1)
    for start in range(0, 3000, 700):  # crosses several doublings
        chunk = vectors[start : start + 700]
        index.add(KIND_TURN, np.arange(start, start + len(chunk)) + 1, chunk)
    index.add(KIND_FACT, [1], vectors[:1] * -1)
    assert len(index) == 3001
    for row in (0, 1023, 1024, 2999):
        kind, doc_id, score = index.search(vectors[row], 1)[0]
        assert (kind, doc_id) == (KIND_TURN, row + 1)
        assert score == pytest.approx(1.0, abs=1e-5)
    worst = index.search(vectors[0] * -1, 1)[0]
    assert worst[:2] == (KIND_FACT, 1)


def test_search_orders_by_cosine_and_caps_k() -> None:
    index = VectorIndex(2)
    index.add(KIND_TURN, [1, 2, 3], np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32))
    found = index.search(np.array([1, 0], dtype=np.float32), 10)
    assert [doc_id for _, doc_id, _ in found] == [1, 2, 3]
    assert [round(score, 3) for _, _, score in found] == [1.0, 0.6, 0.0]
    assert VectorIndex(2).search(np.array([1, 0], dtype=np.float32), 3) == []


def test_reserve_and_shape_check() -> None:
    index = VectorIndex(4)
    index.reserve(5000)
    assert index.nbytes >= 5000 * 4 * 4
    with pytest.raises(ValueError, match="shape"):
        index.add(KIND_TURN, [1, 2], np.zeros((2, 3), dtype=np.float32))
