import numpy as np
import pytest

from tars.services.memory.embedder import Embedder, HashingEmbedder, create_embedder


def test_hashing_embedder_shape_norm_and_determinism() -> None:
    embedder = HashingEmbedder(dim=64)
    first = embedder.embed(["turn on the lights", "what time is it", ""])
    again = HashingEmbedder(dim=64).embed(["turn on the lights", "what time is it", ""])
    assert first.shape == (3, 64)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first[:2], axis=1), 1.0, rtol=1e-5)
    assert not first[2].any()
    np.testing.assert_array_equal(first, again)


def test_hashing_embedder_shared_words_score_higher() -> None:
    vectors = HashingEmbedder().embed(
        ["turn on the kitchen lights", "kitchen lights on please", "recite a sonnet"]
    )
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_hashing_embedder_empty_batch_and_protocol() -> None:
    embedder = HashingEmbedder()
    assert embedder.embed([]).shape == (0, 384)
    assert isinstance(embedder, Embedder)
    assert embedder.name == "hashing-384"


def test_hashing_embedder_rejects_tiny_dim() -> None:
    with pytest.raises(ValueError, match="dim"):
        HashingEmbedder(dim=4)


def test_create_embedder_hashing() -> None:
    assert create_embedder("hashing").name == "hashing-384"
