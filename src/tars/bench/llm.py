"""`tars bench llm`: the embedded model on llama.cpp and on mistral.rs, side by side.

Same model file (``LLM_EMBEDDED_MODEL``, default Qwen2.5-Coder-1.5B Q4_K_M), same prompts,
one run. Each configuration runs in a fresh process (:mod:`tars.bench.llm_probe`) and
reports resident memory, load time, time to first token with a one-line system prompt and
with the full TARS persona prompt (cold, then cached), decode tokens per second, when the
first sentence of a spoken answer is ready and the longest silence a speaker would leave
between sentences, and the answer-quality score (:mod:`tars.bench.llm_quality`).

Everything except the idle row runs while one core is kept busy by another process, as
speech recognition and synthesis keep it busy in a voice turn: the llama.cpp thread counts
are compared under that load, not on an idle machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tars.bench import report
from tars.bench.size import quick
from tars.runtime.settings import RuntimeSettings
from tars.services.llm.settings import LlmSettings

_BURN = "while True: pass"
_PROBE_TIMEOUT_S = 1800


def configurations(settings: LlmSettings) -> list[dict[str, Any]]:
    """The runs: the default llama.cpp settings (idle and loaded), 2 threads, mistral.rs."""
    default = {
        "runtime": "llamacpp",
        "threads": settings.embedded_threads,
        "batch_threads": settings.embedded_batch_threads,
    }
    runs = [
        {**default, "label": "llamacpp-default", "load": True, "quality": True},
        {**default, "label": "llamacpp-2-threads", "threads": 2, "load": True},
        {**default, "label": "llamacpp-default-idle", "load": False},
    ]
    if importlib.util.find_spec("mistralrs") is not None:
        runs.append(
            {
                "label": "mistralrs",
                "runtime": "mistralrs",
                "threads": 0,
                "batch_threads": 0,
                "load": True,
                "quality": True,
            }
        )
    return runs


@contextlib.contextmanager
def busy_core(enabled: bool) -> Iterator[None]:
    """Keep one core busy (a spinning process) while the block runs."""
    if not enabled:
        yield
        return
    burner = subprocess.Popen([sys.executable, "-c", _BURN])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


def probe(config: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in its own process and return its results."""
    with busy_core(config["load"]):
        done = subprocess.run(
            [sys.executable, "-m", "tars.bench.llm_probe", json.dumps(config)],
            stdout=subprocess.PIPE,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        return {"error": f"probe exited with {done.returncode}"}
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    results["config"] = config
    results["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return results


def print_row(label: str, r: dict[str, Any]) -> None:
    """One configuration's headline figures."""
    if "error" in r:
        print(f"{label}: {r['error']}")
        return
    quality, with_tools = r.get("quality"), r.get("quality_with_tools")
    score = f", quality {quality['passed']}/{quality['total']}" if quality else ""
    if with_tools:
        score += f" ({with_tools['passed']}/{with_tools['total']} with the stack's tools)"
    print(
        f"{label}: RSS {r['rss_after_runs_mib']['rss']:.0f} MiB "
        f"(peak {r['rss_after_runs_mib']['peak']:.0f}), load {r['load_s']:.1f} s; "
        f"TTFT short p50 {r['short_system']['ttft_ms']['p50']:.0f} ms, "
        f"persona cold {r['tars_persona_cold_ttft_ms']:.0f} ms, "
        f"cached p50 {r['tars_persona']['ttft_ms']['p50']:.0f} ms; "
        f"decode {_rate(r['tars_persona']['decode_tokens_per_s'])}; "
        f"first sentence p50 {r['flow']['first_sentence_ms']['p50']:.0f} ms, "
        f"longest gap {r['flow']['max_gap_ms']:.0f} ms{score} "
        f"(load avg {r['load_avg_1m_after']})"
    )


def chart_values(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Bars: memory (GiB), cached persona TTFT (s) and decode rate per configuration."""
    chart: dict[str, float] = {}
    for label, r in runs.items():
        if "error" in r:
            continue
        chart[f"{label} RSS GiB"] = r["rss_after_runs_mib"]["rss"] / 1024
        chart[f"{label} TTFT s"] = r["tars_persona"]["ttft_ms"]["p50"] / 1e3
        if r["tars_persona"]["decode_tokens_per_s"] is not None:
            chart[f"{label} tok/s"] = r["tars_persona"]["decode_tokens_per_s"]
    return chart


def _rate(tokens_per_s: float | None) -> str:
    """A decode rate for the summary line (None: every reply was a tool call)."""
    return "no text to time" if tokens_per_s is None else f"{tokens_per_s:.1f} tok/s"


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench llm`: measure every configuration, print the figures, write the report."""
    settings = LlmSettings()
    data_dir = settings.data_dir if "data_dir" in settings.model_fields_set else runtime.data_dir
    runs: dict[str, dict[str, Any]] = {}
    chosen = configurations(settings)
    # Quick: only the default configuration, still with its quality questions.
    for config in chosen[:1] if quick() else chosen:
        config.update(model=settings.embedded_model, data_dir=str(data_dir))
        load = "one core busy" if config["load"] else "idle"
        print(f"bench llm: {config['label']} ({load}) ...", flush=True)
        runs[config["label"]] = probe(config)
        print_row(config["label"], runs[config["label"]])
    results = {
        "model": settings.embedded_model,
        "cpu_count": os.cpu_count(),
        "quick": quick(),
        "runs": runs,
    }
    print(f"report: {report.write(out_dir, 'llm', results, chart_values(runs))}")
    return 0 if all("error" not in r for r in runs.values()) else 1
