"""Blocking in-process chat models for the embedded provider: the seam and mistral.rs.

Everything here blocks (loading takes seconds, generation is CPU-bound): run it off the event
loop. :class:`~tars.services.llm.embedded.EmbeddedProvider` does that on its worker thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from tars.services.llm.errors import ModelUnavailableError
from tars.services.llm.provider import CompletionParams, Usage

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalChunk:
    """One piece of local generation output.

    Attributes:
        text: New text (may be empty).
        finish_reason: Set on the last chunk.
        usage: Token counts, when known (usually on the last chunk).
    """

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


class LocalModel(Protocol):
    """A blocking, in-process chat model (the seam used by tests with a fake)."""

    @property
    def model_name(self) -> str:
        """Name reported in :class:`Finished`."""
        ...

    def generate(
        self, messages: Sequence[dict[str, str]], params: CompletionParams
    ) -> Iterator[LocalChunk]:
        """Generate a reply, yielding chunks as tokens arrive. Blocking; closing stops it."""
        ...


class MistralRsModel:
    """A GGUF model run by mistral.rs. Loading blocks for seconds: run it off the event loop.

    Args:
        path: The GGUF file.
        threads: CPU threads for inference; 0 leaves the library default (all cores).
    """

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        # mistral.rs logs every load step at INFO as plain text on stderr, which would break
        # the JSON log stream; keep its warnings and errors unless the user asks otherwise.
        os.environ.setdefault("RUST_LOG", "warn")
        try:
            import mistralrs
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("mistralrs is not installed: run `uv sync --extra llm`") from err
        if threads > 0:
            # Read once by the Rust thread pools when they start; process-wide by nature.
            os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
            os.environ.setdefault("CANDLE_NUM_THREADS", str(threads))
        self._mistralrs = mistralrs
        self._name = path.stem
        started = time.monotonic()
        # The stubs type Which's variants as separate classes, not as members of Which.
        which: Any = mistralrs.Which.GGUF(
            quantized_model_id=str(path.parent), quantized_filename=path.name, tok_model_id=None
        )
        # token_source="none": never look for a Hugging Face token; we are offline.
        try:
            self._runner = mistralrs.Runner(which=which, max_seqs=1, token_source="none")
        except Exception as err:  # mistral.rs raises plain exceptions for unreadable files
            raise ModelUnavailableError(f"cannot load {path}: {err}") from err
        _LOGGER.info("loaded %s in %.2f s", path.name, time.monotonic() - started)

    @property
    def model_name(self) -> str:
        """The GGUF file name without its extension."""
        return self._name

    def generate(
        self, messages: Sequence[dict[str, str]], params: CompletionParams
    ) -> Iterator[LocalChunk]:
        """Stream a chat completion; see :meth:`LocalModel.generate`."""
        request = self._mistralrs.ChatCompletionRequest(
            messages=list(messages),
            model="default",
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stream=True,
        )
        # With stream=True the runner returns a chunk iterator; the stubs give a union.
        chunks = cast(Iterator[Any], self._runner.send_chat_completion_request(request))
        for chunk in chunks:
            usage = None
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices:
                yield LocalChunk(choice.delta.content or "", choice.finish_reason, usage)
                usage = None
            if usage is not None:
                yield LocalChunk("", None, usage)
