"""mistral.rs as an embedded runtime (``LLM_EMBEDDED_RUNTIME=mistralrs``, extra ``llm-mistralrs``).

Not the default: on the same GGUF file it holds ~3.9 GB resident against llama.cpp's ~1.3 GB
(the stack's 2.5 GB budget cannot hold it) and decodes 2-3 times slower with one core busy
(``tars bench llm``). It is kept because it reads long uncached prompts (the cold persona,
large retrieved memories) about twice as fast on a busy machine, and as the comparison in
``tars bench llm``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from tars.services.llm.errors import ModelUnavailableError
from tars.services.llm.localmodel import LocalChunk, OnChunk, RuntimeOptions
from tars.services.llm.provider import CompletionParams, Usage

_LOGGER = logging.getLogger(__name__)


class MistralRsModel:
    """A GGUF model run by mistral.rs. Loading blocks for seconds: run it off the event loop.

    Args:
        path: The GGUF file.
        options: Threads (process-wide for mistral.rs; read once when its pools start).
    """

    def __init__(self, path: Path, options: RuntimeOptions | None = None) -> None:
        options = options or RuntimeOptions()
        # mistral.rs logs every load step at INFO as plain text on stderr, which would break
        # the JSON log stream; keep its warnings and errors unless the user asks otherwise.
        os.environ.setdefault("RUST_LOG", "warn")
        try:
            import mistralrs
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ModelUnavailableError(
                "mistralrs is not installed: run `uv sync --extra llm-mistralrs`"
            ) from err
        if options.threads > 0:
            os.environ.setdefault("RAYON_NUM_THREADS", str(options.threads))
            os.environ.setdefault("CANDLE_NUM_THREADS", str(options.threads))
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
        _LOGGER.info("mistral.rs loaded %s in %.2f s", path.name, time.monotonic() - started)

    @property
    def model_name(self) -> str:
        """The GGUF file name without its extension."""
        return self._name

    def generate(
        self, messages: Sequence[dict[str, str]], params: CompletionParams, on_chunk: OnChunk
    ) -> None:
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
        try:
            for chunk in chunks:
                if any(on_chunk(local) for local in _local_chunks(chunk)):
                    return
        finally:
            # Dropping mistral.rs's iterator aborts the sequence in the engine.
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        """Nothing to do: mistral.rs frees its runner when the process ends."""


def _local_chunks(chunk: Any) -> list[LocalChunk]:
    usage = None
    if chunk.usage is not None:
        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    out = []
    for choice in chunk.choices:
        out.append(LocalChunk(choice.delta.content or "", choice.finish_reason, usage))
        usage = None
    if usage is not None:
        out.append(LocalChunk("", None, usage))
    return out
