"""`tars bench llm`: embedded model load time, time to first token and tokens per second.

The model named by ``LLM_EMBEDDED_MODEL`` (default Qwen2.5-Coder-1.5B) is joined into the
data dir if needed, loaded, then asked a few short questions greedily, twice each: once
with a one-line system prompt and once with the full TARS persona prompt the service
sends, so the cost of prompt prefill is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from tars.bench import report
from tars.bench.report import percentiles
from tars.characters.model import load_character
from tars.characters.prompt import build_system_prompt
from tars.runtime.settings import RuntimeSettings
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.localmodel import MistralRsModel
from tars.services.llm.modelfiles import resolve_model
from tars.services.llm.provider import ChatMessage, CompletionParams, Finished, TextDelta
from tars.services.llm.settings import LlmSettings

PROMPTS = (
    "What is the capital of France?",
    "Give me one tip for sleeping better.",
    "How many legs does a spider have?",
)
SHORT_SYSTEM = "You are TARS, a concise robot assistant. Answer in one short sentence."


async def _one(
    provider: EmbeddedProvider, system: str, question: str, params: CompletionParams
) -> dict[str, Any]:
    started = time.perf_counter()
    first: float | None = None
    text: list[str] = []
    finished: Finished | None = None
    messages = [ChatMessage("system", system), ChatMessage("user", question)]
    async with contextlib.aclosing(provider.stream(messages, params)) as events:
        async for event in events:
            if isinstance(event, TextDelta) and event.text:
                first = first if first is not None else time.perf_counter()
                text.append(event.text)
            elif isinstance(event, Finished):
                finished = event
    done = time.perf_counter()
    completion = finished.usage.completion_tokens if finished and finished.usage else 0
    prompt_tokens = finished.usage.prompt_tokens if finished and finished.usage else 0
    ttft = (first or done) - started
    decode_s = done - (first or done)
    return {
        "question": question,
        "reply": "".join(text).strip(),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "ttft_ms": round(ttft * 1e3, 1),
        "total_ms": round((done - started) * 1e3, 1),
        # Tokens after the first, over the time after the first: the decode rate.
        "decode_tokens_per_s": round((completion - 1) / decode_s, 2) if completion > 1 else 0.0,
    }


async def measure(settings: LlmSettings, data_dir: Path) -> dict[str, Any]:
    """Load the embedded model and time a few completions."""
    started = time.perf_counter()
    path = await asyncio.to_thread(resolve_model, settings.embedded_model, data_dir)
    resolved = time.perf_counter()
    model = await asyncio.to_thread(MistralRsModel, path, threads=settings.embedded_threads)
    loaded = time.perf_counter()
    provider = EmbeddedProvider(lambda: model)
    params = CompletionParams(model="local", max_tokens=64, temperature=0.0)
    persona = build_system_prompt(load_character("TARS"))
    runs: dict[str, list[dict[str, Any]]] = {"short_system": [], "tars_persona": []}
    try:
        await _one(provider, SHORT_SYSTEM, "Hello.", params)  # warm-up
        for question in PROMPTS:
            runs["short_system"].append(await _one(provider, SHORT_SYSTEM, question, params))
            runs["tars_persona"].append(await _one(provider, persona, question, params))
    finally:
        await provider.aclose()
    results: dict[str, Any] = {
        "model": path.name,
        "resolve_s": round(resolved - started, 2),
        "load_s": round(loaded - resolved, 2),
    }
    # The first persona run pays the whole prompt prefill; later ones hit mistral.rs's
    # prefix cache (the service pre-fills the persona at start for this reason).
    results["tars_persona_cold_ttft_ms"] = runs["tars_persona"][0]["ttft_ms"]
    for label, rows in runs.items():
        results[label] = {
            "ttft_ms": percentiles([r["ttft_ms"] for r in rows]),
            "decode_tokens_per_s": round(
                sum(r["decode_tokens_per_s"] for r in rows) / len(rows), 2
            ),
            "runs": rows,
        }
    return results


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench llm`: measure, print the headline figures, write the report."""
    settings = LlmSettings()
    data_dir = settings.data_dir if "data_dir" in settings.model_fields_set else runtime.data_dir
    print(f"bench llm: loading {settings.embedded_model} ...", flush=True)
    results = asyncio.run(measure(settings, data_dir))
    print(f"model {results['model']}: resolve {results['resolve_s']} s, load {results['load_s']} s")
    chart = {"load s": results["load_s"]}
    for label in ("short_system", "tars_persona"):
        block = results[label]
        prompt_tokens = block["runs"][0]["prompt_tokens"]
        print(
            f"{label} ({prompt_tokens} prompt tokens): TTFT p50 {block['ttft_ms']['p50']:.0f} ms, "
            f"decode {block['decode_tokens_per_s']:.1f} tokens/s"
        )
        chart[f"{label} TTFT p50 s"] = block["ttft_ms"]["p50"] / 1e3
        chart[f"{label} tokens/s"] = block["decode_tokens_per_s"]
    cold_ms = results["tars_persona_cold_ttft_ms"]
    print(f"tars_persona cold TTFT (whole prefill, no prefix cache): {cold_ms:.0f} ms")
    chart["tars_persona cold TTFT s"] = cold_ms / 1e3
    print(f"report: {report.write(out_dir, 'llm', results, chart)}")
    return 0
