"""Settings of the llm service, read once from ``LLM_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings

#: Context window assumed for HTTP endpoints when none is configured (py-tars default).
HTTP_CTX_WINDOW = 8192
#: Context window of the embedded model (its KV cache is allocated for this many tokens).
EMBEDDED_CTX_WINDOW = 4096
#: Default sampling temperature over HTTP (the embedded model decodes greedily by default).
HTTP_TEMPERATURE = 0.7

EmbeddedRuntime = Literal["llamacpp", "mistralrs"]
"""In-process runtimes for the embedded model."""


class LlmSettings(TarsSettings):
    """Configuration of the llm service and its providers."""

    model_config = SettingsConfigDict(env_prefix="LLM_", frozen=True, extra="ignore")

    provider: Literal["auto", "openai", "embedded"] = "auto"
    """Backend: ``openai`` (any OpenAI-compatible endpoint), ``embedded``, or ``auto``
    (openai when ``base_url`` is set, else embedded)."""
    base_url: str | None = None
    """OpenAI-compatible API root, e.g. ``http://127.0.0.1:11434/v1`` (no trailing path)."""
    api_key: SecretStr | None = None
    """Bearer token for the endpoint; never logged."""
    model: str = "gpt-4o-mini"
    """Model name sent to the HTTP endpoint (the embedded provider ignores it)."""
    max_tokens: int = Field(default=256, gt=0)
    """Maximum tokens generated per reply (tokens)."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Sampling temperature (unitless; 0 = greedy); unset: 0 for the embedded model (sampled,
    its answers score worse: 22 of 30 at 0.3 and 0.7, 26 greedy), 0.7 over HTTP."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling probability mass (0-1)."""
    ctx_window: int | None = Field(default=None, gt=0)
    """Model context window (tokens); unset: 8192 for HTTP, 4096 for the embedded model."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """Seconds allowed to connect to the endpoint (s)."""
    read_timeout_s: float = Field(default=30.0, gt=0)
    """Longest silence between two streamed chunks before the request fails (s)."""
    total_timeout_s: float = Field(default=120.0, gt=0)
    """Deadline for a whole request, queueing included (s)."""
    max_concurrent: int = Field(default=4, gt=0)
    """Requests handled at once; more wait in a queue (requests)."""
    stream_usage: bool = True
    """Ask HTTP endpoints for token usage in the stream (``stream_options.include_usage``)."""
    embedded_model: str = "qwen2.5-coder-1.5b"
    """Embedded model: ``qwen2.5-coder-1.5b``, ``smollm2-135m`` or a path to a GGUF file."""
    embedded_runtime: EmbeddedRuntime = "llamacpp"
    """Embedded runtime: ``llamacpp`` (xllamacpp) or ``mistralrs`` (extra ``llm-mistralrs``)."""
    embedded_threads: int = Field(default=1, ge=0)
    """CPU threads while generating tokens (threads; 0 = all cores). One leaves a core to
    speech synthesis and recognition, which run at the same time."""
    embedded_batch_threads: int = Field(default=0, ge=0)
    """CPU threads while reading the prompt (threads; 0 = all cores)."""
    embedded_kv_cache: Literal["q8_0", "f16"] = "q8_0"
    """Number format of the embedded llama.cpp model's attention cache: ``q8_0`` holds a
    4096-token context in about half the memory of ``f16`` (54 MB less for Qwen 1.5B)."""
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "tars")
    """Directory for generated files such as the joined embedded model (path)."""
    rag_enabled: bool = False
    """Retrieve memories for every request (py-tars RAG_ENABLED default: off)."""
    rag_top_k: int = Field(default=5, gt=0)
    """Memories requested per query (count)."""
    rag_max_tokens: int = Field(default=2000, ge=0)
    """Upper bound for retrieved memories in the prompt (tokens)."""
    rag_timeout_s: float = Field(default=5.0, gt=0)
    """How long to wait for memory results before answering without them (s)."""
    tool_loop_max_rounds: int = Field(default=3, gt=0)
    """Tool-call rounds allowed per request before failing with ``tool_loop_limit`` (rounds)."""
    share_group: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    """MQTT v5 shared-subscription group: llm workers with the same group split
    ``llm/request`` ($share/<group>/llm/request), each request answered by one of them;
    every worker still hears every ``llm/cancel``. Empty: one worker."""

    def resolved_provider(self) -> Literal["openai", "embedded"]:
        """The provider to use, with ``auto`` decided by whether ``base_url`` is set."""
        if self.provider == "auto":
            return "openai" if self.base_url else "embedded"
        return self.provider

    def sampling_temperature(self) -> float:
        """The default temperature for the resolved provider."""
        if self.temperature is not None:
            return self.temperature
        return HTTP_TEMPERATURE if self.resolved_provider() == "openai" else 0.0

    def context_window(self) -> int:
        """The context window in tokens for the resolved provider."""
        if self.ctx_window is not None:
            return self.ctx_window
        return HTTP_CTX_WINDOW if self.resolved_provider() == "openai" else EMBEDDED_CTX_WINDOW
