"""`tars bench turns`: requests with a pause in the middle, and how stt ends the turn.

Requests are synthesised with pauses of 300-1,200 ms (spliced, SSML and fragment
material, see `tars.bench.material`) and played, one utterance each, through the real
stt, router and tts services over a private broker, in live mode (no wake word). For
each we check whether the first stt/final was cut off at the pause and whether a later
final continuing it (``continues``) held the whole request. The rig stands in for the
LLM (it answers "Okay." at once), so a cut-off first final gets a spoken reply as soon as
a fast LLM would give one, and one satellite's microphone streams noise between clips,
as a real one would. The same run times
voice-to-voice latency of complete rule-answered commands. Everything runs once per
end-of-turn mode (``STT_END_OF_TURN``; the modes come from ``TARS_BENCH_TURNS_MODES``,
default ``model,punctuation``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tars.bench import env, material, report, size, turn_score
from tars.bench.material import Clip
from tars.bench.rig import Played, UrlFor, private_broker
from tars.bench.turns_report import chart, print_mode
from tars.bench.voice_loop import VoiceRig, summarise, timed_turn
from tars.contracts.stt import TOPIC_STT_CONTINUATION, TOPIC_STT_REJECTED
from tars.runtime.loop import run as run_loop
from tars.runtime.settings import RuntimeSettings

MODES = ("model", "punctuation")
"""End-of-turn modes compared by default."""
MODES_ENV = "TARS_BENCH_TURNS_MODES"
"""Comma-separated modes to run instead."""
PER_CELL = 4
"""Requests per (kind, pause) cell: 48 paused turns per mode, about 5 minutes on 2 cores
(20 on a loaded machine); ``TARS_BENCH_QUICK=1`` plays ``QUICK_PER_CELL``."""
QUICK_PER_CELL = 2
COMMANDS = (
    "what time is it",
    "what's the date today",
    "set a timer for five minutes",
    "say hello there",
)
"""Complete rule-answered commands, timed voice to voice (last, so no timer fires)."""
LLM_ANSWER = "Okay."
"""What the stand-in LLM answers to requests no rule handles."""
_SERVICES = ("tts", "router", "stt")


def requested_modes() -> tuple[str, ...]:
    """The modes to run (``TARS_BENCH_TURNS_MODES`` or both)."""
    raw = os.environ.get(MODES_ENV, "")
    chosen = tuple(part.strip() for part in raw.split(",") if part.strip())
    return chosen or MODES


def turn_entry(clip: Clip, played: Played) -> tuple[turn_score.Outcome, dict[str, Any]]:
    """Score one played clip and describe it for the report."""
    finals = played.finals()
    outcome = turn_score.score(
        clip.request.first, clip.request.second, finals, len(played.of(TOPIC_STT_REJECTED))
    )
    entry = {
        "kind": clip.kind,
        "voice": clip.voice,
        "pause_ms": clip.pause_ms,
        "request": clip.request.text,
        "finals": [
            {"at_ms": round(f.at_s * 1000), "text": f.text, "continues": f.continues}
            for f in finals
        ],
        "rejected": [data.text for _, _, data in played.of(TOPIC_STT_REJECTED)],
        "continuations": len(played.of(TOPIC_STT_CONTINUATION)),
        "cut_off": outcome.cut_off,
        "rescued": outcome.rescued,
        "split": outcome.split,
        "dropped": outcome.dropped,
        "continued": outcome.continued,
        "first_missing": outcome.first_missing,
        "complete": outcome.complete,
        "whole_after_ms": outcome.whole_after_ms,
        "verdict": verdict(outcome),
    }
    return outcome, entry


def verdict(outcome: turn_score.Outcome) -> str:
    """One phrase for a turn's outcome, as printed while the bench runs."""
    if outcome.dropped:
        return "DROPPED"
    if outcome.first_missing:
        rejected = " (rejected)" if outcome.rejections else ""
        return f"first half missing{rejected}" + (", cut" if outcome.cut_off else "")
    if not outcome.cut_off:
        return "whole" if outcome.complete else "not cut, misheard"
    if outcome.rescued:
        return "cut, rescued"
    return "cut, continued but misheard" if outcome.continued else "cut, LOST"


async def run_mode(
    mode: str | None,
    paused: list[Clip],
    commands: list[Clip],
    url_for: UrlFor,
    runtime: RuntimeSettings,
) -> dict[str, Any]:
    """Play all material through stt+router+tts with stt's end of turn set to ``mode``."""
    overrides = {**env.LIVE, **env.SATELLITES, **env.QUIET, **env.end_of_turn_env(mode)}
    floor = material.noise_floor(material.noise_level(paused))
    started = time.monotonic()
    with env.overrides(overrides):
        rig = VoiceRig(
            url_for, runtime, "turns", services=_SERVICES, llm_answer=LLM_ANSWER, floor=floor
        )
        async with rig:
            await rig.play(commands[0].audio)  # the first transcriptions run slow
            scored, turns = [], []
            for index, clip in enumerate(paused):
                outcome, entry = turn_entry(clip, await rig.play(clip.audio))
                scored.append((clip.kind, clip.pause_ms, outcome))
                turns.append(entry)
                texts = " -> ".join(repr(final["text"]) for final in entry["finals"])
                print(
                    f"  [{index + 1}/{len(paused)}] {clip.kind} {clip.pause_ms} ms {clip.voice}: "
                    f"{entry['verdict']} | {texts}",
                    flush=True,
                )
            timed = []
            for clip in commands:
                timed.append(await timed_turn(rig, clip.request.text, clip.audio))
                await asyncio.sleep(0.3)
    return {
        "end_of_turn": mode or "service default",
        "rows": turn_score.rows(scored),
        "turns": turns,
        "commands": summarise(timed),
        "elapsed_s": round(time.monotonic() - started, 1),
    }


async def measure(runtime: RuntimeSettings) -> dict[str, Any]:
    """Synthesise the material once, then run every mode on a private broker."""
    supported = "end_of_turn" in env.stt_fields()
    modes: list[str | None] = list(requested_modes()) if supported else [None]
    paused = await asyncio.to_thread(material.paused_clips, size.sized(PER_CELL, QUICK_PER_CELL))
    voices = material.PIPER_VOICES[:1] + material.PIPER_VOICES[2:]
    commands = await asyncio.to_thread(material.whole_clips, COMMANDS, voices)
    results: dict[str, Any] = {
        "material": material.describe(paused, commands),
        "end_of_turn_setting": supported,
        "quick": size.quick(),
        "modes": {},
    }
    if not supported:
        results["note"] = "stt has no end_of_turn setting yet: only its current heuristic ran"
    with tempfile.TemporaryDirectory(prefix="tars-bench-turns-") as directory:
        async with private_broker(Path(directory) / "broker") as config:
            for mode in modes:
                data = Path(directory) / f"data-{mode}"
                rig_runtime = runtime.model_copy(update={"data_dir": data})
                name = mode or "default"
                print(f"end_of_turn={name}: {len(paused)} paused requests ...", flush=True)
                try:
                    figures = await run_mode(mode, paused, commands, config.url, rig_runtime)
                except Exception as err:  # one mode failing to start must not hide the other
                    figures = {"error": f"{type(err).__name__}: {err}"}
                results["modes"][name] = figures
    return results


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench turns`: measure, print the tables, write the report."""
    print(
        f"bench turns: pauses {', '.join(map(str, material.PAUSES_MS))} ms, "
        f"kinds {', '.join(material.KINDS)}; synthesising ...",
        flush=True,
    )
    results = run_loop(measure(runtime))
    if "note" in results:
        print(f"note: {results['note']}")
    for mode, figures in results["modes"].items():
        print_mode(mode, figures)
    print("(latency on a shared 2-core machine is noisy: compare modes within one run)")
    print(f"report: {report.write(out_dir, 'turns', results, chart(results))}")
    return 0
