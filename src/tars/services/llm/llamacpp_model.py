"""llama.cpp as the embedded runtime, in-process through xllamacpp (the default).

Why llama.cpp: on Qwen2.5-Coder-1.5B Q4_K_M (a 1.1 GB file) it holds about 1.3 GB resident
where mistral.rs holds 3.7-4.3 GB (``tars bench llm`` measures both side by side).

xllamacpp runs llama.cpp's own server in the process: ``handle_chat_completions`` blocks the
calling thread (the GIL released) and calls back, with the GIL, for every streamed chunk;
returning True from the callback ends the request, and the server cancels its task at once.
``return_progress`` makes the server also report after every prompt batch, so a stop is
noticed while a long prompt is read, not only once tokens flow.

The server always opens an HTTP listener as well. It is bound to a Unix socket in a private
(0700) temporary directory, never to a TCP port, so nothing on the network or on loopback (a
browser page, another user) can reach it; it also requires a random API key, and the web UI,
slot and metrics endpoints are off. Nothing in TARS uses the listener.

One slot with ``cache_prompt`` keeps the KV cache of the last request, and the next request
reuses the longest common prefix: the persona system prompt is read once (the llm service
pre-fills it at start) instead of on every request. Past that prefix, ``n_cache_reuse`` lets
llama.cpp also reuse runs of cached tokens that moved (shifting their positions): the
router's history is a sliding window, so once it is full every turn drops the oldest pair
and, matched by prefix alone, the whole history would be read again each turn (~120 tokens,
8-15 s on two busy cores); reused, only the new turn is read. The reused entries were
computed with the dropped turn still in front of them, an approximation llama.cpp accepts
for exactly this case.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tars.services.llm.errors import LLMBadResponseError, ModelUnavailableError
from tars.services.llm.localmodel import LocalChunk, OnChunk, RuntimeOptions
from tars.services.llm.provider import CompletionParams, Usage

_LOGGER = logging.getLogger(__name__)

CACHE_REUSE_CHUNK = 16
"""Shortest run of moved cached tokens that llama.cpp reuses (tokens); a history message is
about 10-30 tokens, and consecutive kept messages form one run."""

PROMPT_BATCH = 64
"""Prompt tokens read per step (tokens). Each step ends with a progress callback, so this
bounds how long a stop waits while a prompt is read (about a second on two idle cores).
Measured here: 64 reads ~10 % slower than 128 or 512 per CPU second, 32 ~20 % slower; a
request's own new tokens are usually fewer than 64 anyway."""

DRY_MULTIPLIER = 0.8
"""Strength of llama.cpp's DRY sampler, which makes repeating a run of tokens already in the
context less likely the longer the run. Decoding greedily, the model otherwise loops in long
replies (two of eight long answers here repeated whole sentences, none with it; the quality
questions scored the same)."""
DRY_LAST_N = 64
"""Tokens DRY looks back over: the reply's own recent sentences (a loop repeats one of ~20-30
tokens), not the history, whose earlier answers it made the model avoid ("The capital of
France is Paris." instead of "Paris." when it looked at the whole context)."""
DRY_SEQUENCE_BREAKERS = ("\n", ":", '"', "*", "_")
"""Characters that end a run for DRY: llama.cpp's own, plus ``_``, so tool names
(``mcp__movement__move``), which a tool call must copy from the prompt, are never one long run."""


class LlamaCppModel:
    """A GGUF chat model run by llama.cpp. Loading blocks for seconds: run it off the loop.

    Args:
        path: The GGUF file.
        options: Threads and context window.

    Raises:
        ModelUnavailableError: xllamacpp is missing or llama.cpp cannot load the file.
    """

    def __init__(self, path: Path, options: RuntimeOptions | None = None) -> None:
        try:
            import xllamacpp
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ModelUnavailableError(
                "xllamacpp is not installed: run `uv sync --extra llm`"
            ) from err
        self._name = path.stem
        socket_dir = Path(tempfile.mkdtemp(prefix="tars-llm-"))
        # Removed by close(), or at exit if nobody called it.
        self._remove_socket_dir = weakref.finalize(self, shutil.rmtree, socket_dir, True)
        params = server_params(xllamacpp, path, options or RuntimeOptions(), socket_dir)
        started = time.monotonic()
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as err:  # xllamacpp raises RuntimeError without the cause
            self.close()
            raise ModelUnavailableError(f"llama.cpp cannot load {path}: {err}") from err
        _LOGGER.info("llama.cpp loaded %s in %.2f s", path.name, time.monotonic() - started)

    @property
    def model_name(self) -> str:
        """The GGUF file name without its extension."""
        return self._name

    def generate(
        self, messages: Sequence[dict[str, str]], params: CompletionParams, on_chunk: OnChunk
    ) -> None:
        """Stream a chat completion; see :meth:`LocalModel.generate`."""
        if self._server is None:
            raise ModelUnavailableError("the model was closed")
        request = {
            "messages": list(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "dry_multiplier": DRY_MULTIPLIER,
            "dry_sequence_breakers": list(DRY_SEQUENCE_BREAKERS),
            "dry_penalty_last_n": DRY_LAST_N,
            "stream": True,
            "stream_options": {"include_usage": True},
            "cache_prompt": True,
            "return_progress": True,
        }
        relay = _Relay(on_chunk)
        self._server.handle_chat_completions(request, relay)
        relay.raise_failure()

    def close(self) -> None:
        """Stop the server (joins its threads) and remove its socket directory. Idempotent."""
        # Dropping the last reference runs the C++ destructor, which ends the server loop.
        self._server = None
        self._remove_socket_dir()


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def server_params(xllamacpp: Any, path: Path, options: RuntimeOptions, socket_dir: Path) -> Any:
    """Build xllamacpp ``CommonParams`` for one private, single-slot chat server."""
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = options.ctx_window
    params.n_parallel = 1  # one slot: requests queue, and its KV cache is the prefix cache
    params.n_batch = PROMPT_BATCH
    params.n_ubatch = PROMPT_BATCH
    params.cache_ram_mib = 0  # no second prompt cache in RAM: the slot already keeps one
    params.n_cache_reuse = CACHE_REUSE_CHUNK  # reuse history that moved (see the module doc)
    # Read the weights instead of mapping them: llama.cpp repacks Q4_K weights for AVX2
    # (~30 % faster decoding here), and with a mapping the file pages stay resident beside
    # the repacked copy (1.9 GB instead of 1.3 GB).
    params.load_mode = xllamacpp.llama_load_mode.LLAMA_LOAD_MODE_NONE
    params.fit_params = False  # keep the context we ask for; there is no GPU to fit
    if options.kv_cache == "q8_0":
        # A quantised V cache needs flash attention, which llama.cpp also runs on CPUs.
        params.cache_type_k = xllamacpp.ggml_type.GGML_TYPE_Q8_0
        params.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_Q8_0
        params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
    if options.threads > 0:
        params.cpuparams.n_threads = options.threads
    # llama.cpp gives the prompt reader the generation thread count when none is set (one,
    # by default here), which reads prompts at decoding speed: 0 must mean every core.
    params.cpuparams_batch.n_threads = options.batch_threads or usable_cores()
    # The listener: a Unix socket in our 0700 directory, a key nobody knows, no extras.
    params.hostnames = [str(socket_dir / "llama.sock")]
    params.api_keys = [secrets.token_urlsafe(32)]
    params.n_threads_http = 1
    params.ui = False
    params.endpoint_slots = False
    params.endpoint_metrics = False
    params.endpoint_props = False
    # llama.cpp logs plain text on stderr, which would break the JSON log stream.
    params.verbosity = 0
    return params


class _Relay:
    """The xllamacpp callback: turns raw chunks into :class:`LocalChunk` for ``on_chunk``.

    xllamacpp swallows exceptions raised in the callback (it just stops), so failures are
    kept here and raised by :meth:`raise_failure` once the call returns.
    """

    def __init__(self, on_chunk: OnChunk) -> None:
        self._on_chunk = on_chunk
        self._failure: BaseException | None = None

    def __call__(self, raw: dict[str, Any]) -> bool:
        try:
            error = raw.get("error")
            if error is not None:
                message = error.get("message", error) if isinstance(error, dict) else error
                self._failure = LLMBadResponseError(f"llama.cpp: {message}")
                return True
            return any(self._on_chunk(chunk) for chunk in parse_chunk(raw))
        except BaseException as err:  # re-raised on the generating thread by raise_failure
            self._failure = err
            return True

    def raise_failure(self) -> None:
        """Raise what went wrong during the call, if anything did."""
        if self._failure is not None:
            raise self._failure


def parse_chunk(raw: dict[str, Any]) -> list[LocalChunk]:
    """Turn one OpenAI-style stream chunk from llama.cpp into local chunks.

    A prompt-progress chunk becomes one empty chunk (a chance to stop); a usage chunk becomes
    an empty chunk carrying the token counts.
    """
    if "prompt_progress" in raw and not raw.get("choices"):
        return [LocalChunk("")]
    chunks = [
        LocalChunk(
            (choice.get("delta") or {}).get("content") or "",
            choice.get("finish_reason"),
        )
        for choice in raw.get("choices") or []
    ]
    usage = raw.get("usage")
    if isinstance(usage, dict):
        timings = raw.get("timings")
        timings = timings if isinstance(timings, dict) else {}
        counts = Usage(
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            int(timings.get("cache_n", 0)),
        )
        _log_timings(counts, timings)
        chunks.append(LocalChunk("", None, counts))
    return chunks


def _log_timings(counts: Usage, timings: dict[str, Any]) -> None:
    """Say how much of the prompt was read again: the prefix cache at work, or not."""
    _LOGGER.debug(
        "prompt %d tokens: %d from the cache, %d read in %.0f ms; %d generated in %.0f ms",
        counts.prompt_tokens,
        counts.cached_tokens,
        int(timings.get("prompt_n", counts.prompt_tokens - counts.cached_tokens)),
        float(timings.get("prompt_ms", 0.0)),
        counts.completion_tokens,
        float(timings.get("predicted_ms", 0.0)),
    )
