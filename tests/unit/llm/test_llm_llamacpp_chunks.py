"""llama.cpp stream chunks to local chunks, and the callback relay (no model needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tars.services.llm.errors import ErrorCode, LLMError
from tars.services.llm.llamacpp_model import _Relay, parse_chunk, server_params, usable_cores
from tars.services.llm.localmodel import LocalChunk, RuntimeOptions
from tars.services.llm.provider import Usage


def _delta(content: str | None, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


def test_text_role_and_finish_chunks() -> None:
    assert parse_chunk(_delta("Par")) == [LocalChunk("Par")]
    assert parse_chunk(_delta(None)) == [LocalChunk("")]
    assert parse_chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) == [
        LocalChunk("", "stop")
    ]


def test_usage_chunk() -> None:
    raw = {"choices": [], "usage": {"prompt_tokens": 37, "completion_tokens": 30}}
    assert parse_chunk(raw) == [LocalChunk("", None, Usage(37, 30))]


def test_progress_chunk_is_one_empty_chunk() -> None:
    raw = {"choices": [], "prompt_progress": {"total": 931, "cache": 24, "processed": 88}}
    assert parse_chunk(raw) == [LocalChunk("")]


def test_relay_stops_when_told() -> None:
    seen: list[LocalChunk] = []

    def on_chunk(chunk: LocalChunk) -> bool:
        seen.append(chunk)
        return chunk.text == "stop here"

    relay = _Relay(on_chunk)
    assert relay(_delta("go on")) is False
    assert relay(_delta("stop here")) is True
    relay.raise_failure()
    assert [c.text for c in seen] == ["go on", "stop here"]


def test_relay_turns_a_server_error_into_bad_response() -> None:
    relay = _Relay(lambda chunk: False)
    raw = {"error": {"code": 400, "message": "request (5031 tokens) exceeds the context"}}
    assert relay(raw) is True
    with pytest.raises(LLMError) as caught:
        relay.raise_failure()
    assert caught.value.code == ErrorCode.BAD_RESPONSE
    assert "exceeds the context" in caught.value.message


def test_relay_keeps_a_callback_failure_for_the_caller() -> None:
    def on_chunk(chunk: LocalChunk) -> bool:
        raise RuntimeError("consumer broke")

    relay = _Relay(on_chunk)
    assert relay(_delta("x")) is True
    with pytest.raises(RuntimeError, match="consumer broke"):
        relay.raise_failure()


def test_the_listener_is_a_private_unix_socket(tmp_path: Path) -> None:
    import xllamacpp  # the llm extra, installed by scripts/setup.sh

    options = RuntimeOptions(threads=1, batch_threads=2, ctx_window=2048)
    params = server_params(xllamacpp, tmp_path / "m.gguf", options, tmp_path)
    assert params.hostnames == [str(tmp_path / "llama.sock")]
    assert len(params.api_keys) == 1
    assert len(params.api_keys[0]) >= 32
    assert not params.ui
    assert not params.endpoint_slots
    assert params.cpuparams.n_threads == 1
    assert params.cpuparams_batch.n_threads == 2
    assert params.n_ctx == 2048
    assert params.n_parallel == 1
    assert params.n_cache_reuse > 0  # a sliding history is reused, not read again
    assert params.cache_type_k == params.cache_type_v == xllamacpp.ggml_type.GGML_TYPE_Q8_0


def test_prompts_are_read_on_every_core_unless_told_otherwise(tmp_path: Path) -> None:
    import xllamacpp

    # Left unset, llama.cpp would read prompts on the one generation thread.
    options = RuntimeOptions(threads=1, batch_threads=0)
    params = server_params(xllamacpp, tmp_path / "m.gguf", options, tmp_path)
    assert params.cpuparams.n_threads == 1
    assert params.cpuparams_batch.n_threads == usable_cores() >= 1


def test_the_attention_cache_can_stay_in_f16(tmp_path: Path) -> None:
    import xllamacpp

    options = RuntimeOptions(ctx_window=2048, kv_cache="f16")
    params = server_params(xllamacpp, tmp_path / "m.gguf", options, tmp_path)
    assert params.cache_type_k == params.cache_type_v == xllamacpp.ggml_type.GGML_TYPE_F16


def test_usage_chunk_says_how_much_of_the_prompt_came_from_the_cache() -> None:
    raw = {
        "choices": [],
        "usage": {"prompt_tokens": 1400, "completion_tokens": 9},
        "timings": {"cache_n": 1385, "prompt_n": 15, "prompt_ms": 900.0, "predicted_ms": 1e3},
    }
    assert parse_chunk(raw) == [LocalChunk("", None, Usage(1400, 9, cached_tokens=1385))]
