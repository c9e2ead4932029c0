"""The embedded provider on real GGUF models through llama.cpp (offline, CPU).

Each model loads once per session. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.errors import ErrorCode, LLMError
from tars.services.llm.llamacpp_model import LlamaCppModel
from tars.services.llm.localmodel import LocalModel, RuntimeOptions
from tars.services.llm.modelfiles import SMOLLM2, resolve_model
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    StreamEvent,
    TextDelta,
    ToolCallsReady,
    ToolSchema,
)

pytestmark = pytest.mark.engine

SYSTEM = "You are TARS, a concise, witty robot assistant. Answer in one or two short sentences."
FRANCE = [ChatMessage("system", SYSTEM), ChatMessage("user", "What is the capital of France?")]
GREEDY = CompletionParams(model="local", max_tokens=48, temperature=0.0)
WEATHER = ToolSchema(
    "get_weather",
    "Current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _rss_mib() -> tuple[float, float]:
    """Current and peak resident memory of this process, MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _listening_inodes(proto: str) -> set[str]:
    """Socket inodes in LISTEN state (TCP state 0A) from /proc/net/<proto>."""
    lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
    return {f[9] for f in (line.split() for line in lines) if f[3] == "0A"}


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


@pytest.fixture(scope="session")
def smollm2() -> Iterator[LlamaCppModel]:
    started = time.monotonic()
    model = LlamaCppModel(resolve_model(SMOLLM2, Path("/nonexistent")), RuntimeOptions(threads=1))
    print(f"\nsmollm2-135m load {time.monotonic() - started:.2f} s")
    yield model
    model.close()


async def _timed(
    provider: EmbeddedProvider,
    messages: Sequence[ChatMessage],
    params: CompletionParams = GREEDY,
    tools: Sequence[ToolSchema] = (),
) -> tuple[list[StreamEvent], str]:
    started = time.monotonic()
    first: float | None = None
    events: list[StreamEvent] = []
    async for event in provider.stream(messages, params, tools):
        if first is None:
            first = time.monotonic() - started
        events.append(event)
    total = time.monotonic() - started
    finished = events[-1]
    assert isinstance(finished, Finished)
    tokens = finished.usage.completion_tokens if finished.usage else 0
    decode = total - (first or 0.0)
    # A held-back tool call arrives all at once, so there is no decode rate to report.
    rate = f"{(tokens - 1) / decode:.1f} tok/s" if tokens > 1 and decode > 0.05 else "n/a"
    summary = f"first event {first or 0:.2f} s, {tokens} tokens in {total:.2f} s ({rate})"
    return events, summary


def _text(events: Sequence[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_smollm2_streams_text(smollm2: LlamaCppModel) -> None:
    provider = EmbeddedProvider(lambda: smollm2)
    try:
        events, summary = await _timed(provider, FRANCE)
    finally:
        await provider.aclose()
    text = _text(events)
    print(f"\nsmollm2: {summary}: {text!r}")
    assert sum(isinstance(e, TextDelta) for e in events) > 1
    assert text.strip()


async def test_smollm2_cancel_mid_stream_stops_generating_then_answers_again(
    smollm2: LlamaCppModel,
) -> None:
    provider = EmbeddedProvider(lambda: smollm2)
    long = CompletionParams(model="local", max_tokens=1000, temperature=0.0)
    story = [ChatMessage("user", "Write a long story about a dragon.")]
    first = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(story, long):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume(), name="consume-smollm2")
    try:
        await asyncio.wait_for(first.wait(), timeout=60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # let the worker thread see the stop
        cpu_before = _cpu_s()
        await asyncio.sleep(1.0)
        cpu_after_cancel = _cpu_s() - cpu_before
        cancelled_at = time.monotonic()
        events, summary = await _timed(provider, FRANCE)
        print(
            f"\nafter cancel: {cpu_after_cancel:.2f} s CPU in the next second; "
            f"next request done {time.monotonic() - cancelled_at:.2f} s later"
        )
    finally:
        await provider.aclose()
    assert _text(events).strip()
    # Still generating would burn a whole core (1 s of CPU in that second).
    assert cpu_after_cancel < 0.5


async def test_smollm2_cancel_while_reading_a_long_prompt(smollm2: LlamaCppModel) -> None:
    provider = EmbeddedProvider(lambda: smollm2)
    long_prompt = [ChatMessage("user", "Tell me about the sea. " * 300)]
    task = asyncio.create_task(_timed(provider, long_prompt), name="consume-long-prompt")
    try:
        await asyncio.sleep(0.3)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        events, _ = await _timed(provider, FRANCE)
        waited = time.monotonic() - cancelled_at
    finally:
        await provider.aclose()
    print(f"\ncancel while reading the prompt: next answer {waited:.2f} s later")
    assert _text(events).strip()


def test_the_server_listens_on_no_tcp_port(smollm2: LlamaCppModel) -> None:
    listening = _listening_inodes("tcp") | _listening_inodes("tcp6")
    assert not listening & _own_socket_inodes()


async def test_qwen_knows_the_capital_of_france(qwen_model: LocalModel) -> None:
    provider = EmbeddedProvider(lambda: qwen_model)
    try:
        await _timed(provider, FRANCE)  # warm-up: the first call pays one-off costs
        events, summary = await _timed(provider, FRANCE)
    finally:
        await provider.aclose()
    text = _text(events)
    rss, peak = _rss_mib()
    print(f"\nqwen: {summary}; RSS {rss:.0f} MiB (peak {peak:.0f} MiB): {text!r}")
    assert "Paris" in text


async def test_qwen_prompted_tool_call(qwen_model: LocalModel) -> None:
    provider = EmbeddedProvider(lambda: qwen_model)
    ask = [ChatMessage("system", SYSTEM), ChatMessage("user", "What's the weather in Rome?")]
    params = CompletionParams(model="local", max_tokens=96, temperature=0.0)
    try:
        events, summary = await _timed(provider, ask, params, [WEATHER])
    finally:
        await provider.aclose()
    print(f"\nqwen tool call: {summary}: {events[:-1]!r}")
    calls = [e for e in events if isinstance(e, ToolCallsReady)]
    assert len(calls) == 1
    assert calls[0].calls[0].name == "get_weather"
    assert "rome" in str(calls[0].calls[0].arguments.get("city", "")).lower()


def test_a_file_llama_cpp_cannot_read_is_model_unavailable(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(LLMError) as caught:
        LlamaCppModel(bogus)
    assert caught.value.code == ErrorCode.MODEL_UNAVAILABLE
