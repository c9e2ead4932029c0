"""One `tars bench llm` measurement in a process of its own: one runtime, one thread setting.

Run as ``python -m tars.bench.llm_probe '<json config>'``; prints one JSON line of results.
A fresh process per runtime keeps the resident-memory figures honest (nothing of the other
runtime is loaded) and the runs independent.

Order matters for the prefix cache, as in the service: the short-system questions come
first, then the persona prompt is read once (the cold figure) and every later persona
request reuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tars.bench import llm_quality
from tars.bench.report import percentiles
from tars.characters.model import load_character
from tars.characters.prompt import build_system_prompt
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.factory import load_embedded_model
from tars.services.llm.localmodel import RuntimeOptions
from tars.services.llm.modelfiles import resolve_model
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    TextDelta,
    ToolSchema,
)
from tars.services.llm.settings import LlmSettings
from tars.text.sentences import SentenceChunker

PROMPTS = (
    "What is the capital of France?",
    "Give me one tip for sleeping better.",
    "How many legs does a spider have?",
)
FLOW_PROMPTS = (
    "Tell me about the planet Mars in three sentences.",
    "Explain in three sentences how a rainbow forms.",
    "Describe a good morning routine in three sentences.",
)
SHORT_SYSTEM = "You are TARS, a concise robot assistant. Answer in one short sentence."
SPEECH_CHARS_PER_S = 15.0
"""Speaking rate assumed for the flow figures: Piper's voice reads about 15 characters/s."""
TTS_FIRST_AUDIO_S = 0.15
"""Time from a sentence to its first audio, assumed for the flow figures (SPEC target)."""


def rss_mib() -> dict[str, float]:
    """Resident memory of this process now (and its peak), MiB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    keys = {"rss": "VmRSS", "peak": "VmHWM", "anon": "RssAnon", "file": "RssFile"}
    return {k: round(int(fields[v].split()[0]) / 1024, 1) for k, v in keys.items()}


async def ask(
    provider: EmbeddedProvider,
    system: str,
    question: str,
    params: CompletionParams,
    tools: Sequence[ToolSchema] = (),
) -> dict[str, Any]:
    """One streamed completion, timed token by token and sentence by sentence.

    With ``tools`` offered, a reply that calls one instead of answering counts as no reply.
    """
    started = time.perf_counter()
    stamps: list[float] = []
    sentences: list[tuple[float, str]] = []
    chunker = SentenceChunker()
    text: list[str] = []
    finished: Finished | None = None
    messages = [ChatMessage("system", system), ChatMessage("user", question)]
    async with contextlib.aclosing(provider.stream(messages, params, tools)) as events:
        async for event in events:
            now = time.perf_counter() - started
            if isinstance(event, TextDelta) and event.text:
                stamps.append(now)
                text.append(event.text)
                sentences += [(now, s) for s in chunker.feed(event.text)]
            elif isinstance(event, Finished):
                finished = event
    done = time.perf_counter() - started
    if rest := chunker.flush():
        sentences.append((done, rest))
    usage = finished.usage if finished is not None else None
    completion = usage.completion_tokens if usage else len(stamps)
    first = stamps[0] if stamps else done
    decode_s = done - first
    return {
        "question": question,
        "reply": "".join(text).strip(),
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": completion,
        "ttft_ms": round(first * 1e3, 1),
        "total_ms": round(done * 1e3, 1),
        # Tokens after the first, over the time after the first: the decode rate. A reply
        # that is only a tool call streams no text, so it has no such time (None).
        "decode_tokens_per_s": (
            round((completion - 1) / decode_s, 2) if completion > 1 and decode_s > 0 else None
        ),
        **speech_flow(sentences),
    }


def speech_flow(sentences: list[tuple[float, str]]) -> dict[str, Any]:
    """When the first sentence was ready, and the silences a speaker would leave.

    Each sentence is assumed to start playing ``TTS_FIRST_AUDIO_S`` after it is complete (or
    when the previous one ends) and to last ``len / SPEECH_CHARS_PER_S`` seconds; a gap is a
    sentence that is not ready when the previous one has finished playing.
    """
    if not sentences:
        return {"first_sentence_ms": None, "sentences": 0, "max_gap_ms": 0.0}
    end = 0.0
    gaps = []
    for index, (ready, sentence) in enumerate(sentences):
        start = ready + TTS_FIRST_AUDIO_S
        if index:
            gaps.append(max(0.0, start - end))
            start = max(start, end)
        end = start + len(sentence) / SPEECH_CHARS_PER_S
    return {
        "first_sentence_ms": round(sentences[0][0] * 1e3, 1),
        "sentences": len(sentences),
        "max_gap_ms": round(max(gaps, default=0.0) * 1e3, 1),
    }


async def measure(config: dict[str, Any], progress: Callable[[str], None]) -> dict[str, Any]:
    """Load the model with ``config`` and run every question; see the module docstring."""
    options = RuntimeOptions(threads=config["threads"], batch_threads=config["batch_threads"])
    path = await asyncio.to_thread(resolve_model, config["model"], Path(config["data_dir"]))
    before = rss_mib()
    started = time.perf_counter()
    model = await asyncio.to_thread(
        load_embedded_model, str(path), Path(config["data_dir"]), options, config["runtime"]
    )
    results: dict[str, Any] = {
        "model": path.name,
        "load_s": round(time.perf_counter() - started, 2),
    }
    results["rss_before_load_mib"] = before
    results["rss_after_load_mib"] = rss_mib()
    # Generous deadline: on a busy machine the cold persona prompt alone takes minutes.
    provider = EmbeddedProvider(lambda: model, owns_model=True, total_timeout_s=1800)
    # Sampled as the llm service samples (greedy unless LLM_TEMPERATURE says otherwise).
    temperature = LlmSettings(provider="embedded").sampling_temperature()
    params = CompletionParams(model="local", max_tokens=64, temperature=temperature)
    persona = build_system_prompt(load_character("TARS"))
    try:
        await ask(provider, SHORT_SYSTEM, "Hello.", params)  # warm-up
        progress("short prompt")
        short = [await ask(provider, SHORT_SYSTEM, q, params) for q in PROMPTS]
        progress("persona prompt")
        cold = await ask(provider, persona, "Hello.", params)
        warm = [await ask(provider, persona, q, params) for q in PROMPTS]
        flow_params = CompletionParams(model="local", max_tokens=128, temperature=temperature)
        flow = [await ask(provider, persona, q, flow_params) for q in FLOW_PROMPTS]
        results["rss_after_runs_mib"] = rss_mib()
        if config.get("quality"):
            progress(f"{len(llm_quality.QUESTIONS)} quality questions")
            results["quality"] = await _quality(provider, persona, params)
            # The stack offers the built-in tools with every request (~700 more tokens of
            # system prompt): the same questions as the running stack asks them.
            tools = await stack_tools()
            progress(f"{len(llm_quality.QUESTIONS)} quality questions with {len(tools)} tools")
            results["quality_with_tools"] = await _quality(provider, persona, params, tools)
    finally:
        await provider.aclose()
    results["tars_persona_cold_ttft_ms"] = cold["ttft_ms"]
    results["tars_persona_prompt_tokens"] = cold["prompt_tokens"]
    results["short_system"] = summarize(short)
    results["tars_persona"] = summarize(warm)
    results["flow"] = summarize(flow)
    return results


async def _quality(
    provider: EmbeddedProvider,
    persona: str,
    params: CompletionParams,
    tools: Sequence[ToolSchema] = (),
) -> dict[str, object]:
    """The 30 quality questions asked one by one, scored."""
    replies = [
        (await ask(provider, persona, q.text, params, tools))["reply"]
        for q in llm_quality.QUESTIONS
    ]
    return llm_quality.score(replies)


async def stack_tools() -> list[ToolSchema]:
    """The tools a default stack offers: the built-in MCP servers' registry, as llm reads it."""
    from tars.services.llm.toolbridge import registry_schemas
    from tars.services.mcp.builtin import camera, character, memory, movement
    from tars.services.mcp.toolset import build_registry

    servers = {"character": character, "movement": movement, "memory": memory, "camera": camera}
    offered = [(name, await module.app.list_tools()) for name, module in servers.items()]
    return registry_schemas(build_registry(offered))


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles of the timed rows of one prompt set, the mean decode rate, and the rows."""
    first = [r["first_sentence_ms"] for r in rows if r["first_sentence_ms"] is not None]
    rates = [r["decode_tokens_per_s"] for r in rows if r["decode_tokens_per_s"] is not None]
    return {
        "ttft_ms": percentiles([r["ttft_ms"] for r in rows]),
        "first_sentence_ms": percentiles(first),
        "max_gap_ms": max(r["max_gap_ms"] for r in rows),
        "decode_tokens_per_s": round(sum(rates) / len(rates), 2) if rates else None,
        "runs": rows,
    }


def main(argv: list[str]) -> int:
    """Measure with the JSON config in ``argv[0]``; print the results as one JSON line."""
    config = json.loads(argv[0])
    label = config["label"]

    def progress(step: str) -> None:
        print(f"  [{label}] {step} (load avg {os.getloadavg()[0]:.1f})", file=sys.stderr)

    progress("loading")
    results = asyncio.run(measure(config, progress))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
