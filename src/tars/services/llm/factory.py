"""Build the configured provider and request parameters from :class:`LlmSettings`."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.localmodel import LocalModel, RuntimeOptions
from tars.services.llm.modelfiles import resolve_model
from tars.services.llm.openai_compat import HttpTimeouts, OpenAICompatProvider
from tars.services.llm.provider import CompletionParams, LLMProvider
from tars.services.llm.settings import EmbeddedRuntime, LlmSettings

_LOGGER = logging.getLogger(__name__)

#: Used when LLM_PROVIDER=openai is chosen without LLM_BASE_URL (as py-tars did).
OPENAI_BASE_URL = "https://api.openai.com/v1"


def build_provider(settings: LlmSettings) -> LLMProvider:
    """Create the provider the settings ask for. Cheap: the embedded model loads lazily.

    Args:
        settings: The service settings.

    Returns:
        An OpenAI-compatible HTTP provider or the embedded provider.
    """
    if settings.resolved_provider() == "openai":
        base_url = settings.base_url or OPENAI_BASE_URL
        _LOGGER.info("llm provider: OpenAI-compatible endpoint %s", base_url)
        return OpenAICompatProvider(
            base_url,
            api_key=settings.api_key,
            timeouts=HttpTimeouts(
                connect_s=settings.connect_timeout_s,
                read_s=settings.read_timeout_s,
                total_s=settings.total_timeout_s,
            ),
            max_concurrent=settings.max_concurrent,
            include_usage=settings.stream_usage,
        )
    _LOGGER.info(
        "llm provider: embedded model %s on %s", settings.embedded_model, settings.embedded_runtime
    )
    load = functools.partial(
        load_embedded_model,
        settings.embedded_model,
        settings.data_dir,
        runtime_options(settings),
        settings.embedded_runtime,
    )
    return EmbeddedProvider(load, total_timeout_s=settings.total_timeout_s, owns_model=True)


def runtime_options(settings: LlmSettings) -> RuntimeOptions:
    """Threads and context window of the embedded runtime, from the settings."""
    return RuntimeOptions(
        threads=settings.embedded_threads,
        batch_threads=settings.embedded_batch_threads,
        ctx_window=settings.context_window(),
        kv_cache=settings.embedded_kv_cache,
    )


def load_embedded_model(
    spec: str, data_dir: Path, options: RuntimeOptions, runtime: EmbeddedRuntime = "llamacpp"
) -> LocalModel:
    """Resolve (joining and verifying if needed) and load the embedded model. Blocking.

    Args:
        spec: ``qwen2.5-coder-1.5b``, ``smollm2-135m`` or a GGUF path.
        data_dir: Where the joined model file is kept.
        options: Threads and context window.
        runtime: ``llamacpp`` or ``mistralrs``.

    Returns:
        The loaded model.

    Raises:
        ModelUnavailableError: The file, its packages or the runtime are missing.
    """
    path = resolve_model(spec, data_dir)
    # Imported here: each runtime is an optional, heavy native extension.
    if runtime == "mistralrs":
        from tars.services.llm.mistralrs_model import MistralRsModel

        return MistralRsModel(path, options)
    from tars.services.llm.llamacpp_model import LlamaCppModel

    return LlamaCppModel(path, options)


def completion_params(settings: LlmSettings) -> CompletionParams:
    """Default sampling parameters from the settings (a request may override them)."""
    return CompletionParams(
        model=settings.model,
        max_tokens=settings.max_tokens,
        temperature=settings.sampling_temperature(),
        top_p=settings.top_p,
    )
