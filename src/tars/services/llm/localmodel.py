"""The seam between the embedded provider and an in-process chat model.

A runtime (llama.cpp through xllamacpp by default, mistral.rs on request) loads a GGUF file and
generates a reply by calling ``on_chunk`` for every piece of output. Everything here blocks
(loading takes seconds, generation is CPU-bound): run it off the event loop.
:class:`~tars.services.llm.embedded.EmbeddedProvider` does that on its worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tars.services.llm.provider import CompletionParams, Usage


@dataclass(frozen=True)
class LocalChunk:
    """One piece of local generation output.

    Attributes:
        text: New text (may be empty: a progress tick while the prompt is read).
        finish_reason: Set on the last chunk.
        usage: Token counts, when known (usually on the last chunk).
    """

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


OnChunk = Callable[[LocalChunk], bool]
"""Receives each chunk on the generating thread; returning True stops the generation."""


@dataclass(frozen=True)
class RuntimeOptions:
    """How a runtime uses the machine.

    Attributes:
        threads: CPU threads while generating tokens (0 = the runtime's default).
        batch_threads: CPU threads while reading the prompt (0 = every core).
        ctx_window: Context window to allocate, in tokens.
        kv_cache: Number format of the attention cache (``q8_0`` or ``f16``).
    """

    threads: int = 0
    batch_threads: int = 0
    ctx_window: int = 4096
    kv_cache: str = "q8_0"


class LocalModel(Protocol):
    """A blocking, in-process chat model (the seam used by tests with a fake)."""

    @property
    def model_name(self) -> str:
        """Name reported in :class:`~tars.services.llm.provider.Finished`."""
        ...

    def generate(
        self, messages: Sequence[dict[str, str]], params: CompletionParams, on_chunk: OnChunk
    ) -> None:
        """Generate a reply, calling ``on_chunk`` for each chunk. Blocking.

        ``on_chunk`` is also called with empty chunks while a long prompt is read, so that a
        True return (stop) takes effect within a fraction of a second at any stage.

        Raises:
            LLMError: The runtime rejected the request or failed.
        """
        ...

    def close(self) -> None:
        """Free the model and its threads. Idempotent."""
        ...
