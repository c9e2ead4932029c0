"""LlmSettings defaults, provider resolution and the provider factory."""

from __future__ import annotations

import pytest

from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.factory import build_provider, completion_params, runtime_options
from tars.services.llm.localmodel import RuntimeOptions
from tars.services.llm.openai_compat import OpenAICompatProvider
from tars.services.llm.settings import LlmSettings


def test_defaults_follow_py_tars(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = LlmSettings()
    assert settings.resolved_provider() == "embedded"
    assert settings.context_window() == 4096
    assert (settings.max_tokens, settings.temperature, settings.top_p) == (256, None, 1.0)
    assert settings.rag_max_tokens == 2000
    assert settings.rag_top_k == 5
    assert settings.tool_loop_max_rounds == 3
    assert settings.embedded_model == "qwen2.5-coder-1.5b"
    assert settings.embedded_runtime == "llamacpp"


def test_the_embedded_model_decodes_greedily_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    # A small local model answers worse when sampled; a remote one keeps the usual 0.7.
    assert completion_params(LlmSettings()).temperature == 0.0
    assert completion_params(LlmSettings(base_url="http://127.0.0.1:1/v1")).temperature == 0.7
    monkeypatch.setenv("LLM_TEMPERATURE", "0.4")
    assert completion_params(LlmSettings()).temperature == 0.4


def test_embedded_runtime_options_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime_options(LlmSettings()) == RuntimeOptions(1, 0, 4096)
    monkeypatch.setenv("LLM_EMBEDDED_THREADS", "2")
    monkeypatch.setenv("LLM_EMBEDDED_BATCH_THREADS", "1")
    monkeypatch.setenv("LLM_CTX_WINDOW", "2048")
    monkeypatch.setenv("LLM_EMBEDDED_RUNTIME", "mistralrs")
    settings = LlmSettings()
    assert runtime_options(settings) == RuntimeOptions(2, 1, 2048)
    assert settings.embedded_runtime == "mistralrs"


def test_env_selects_http_and_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret")
    monkeypatch.setenv("LLM_MODEL", "qwen2.5:1.5b")
    settings = LlmSettings()
    assert settings.resolved_provider() == "openai"
    assert settings.context_window() == 8192
    assert "sk-very-secret" not in repr(settings)
    assert completion_params(settings).model == "qwen2.5:1.5b"


async def test_factory_builds_the_resolved_provider() -> None:
    http = build_provider(LlmSettings(base_url="http://127.0.0.1:1/v1"))
    embedded = build_provider(LlmSettings(provider="embedded", base_url="http://x/v1"))
    try:
        assert isinstance(http, OpenAICompatProvider)
        assert isinstance(embedded, EmbeddedProvider)
    finally:
        await http.aclose()
        await embedded.aclose()
