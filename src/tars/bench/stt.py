"""`tars bench stt`: Whisper speed and accuracy, streamed versus whole, and end-of-speech latency.

The fixed set is synthesised speech (the Piper voice and espeak-ng) of short commands,
plus requests with a pause inside (spliced Piper and espeak-ng SSML material from
`tars.bench.material`). Real-time factor and the *whole* WER come from the transcriber
alone, one call per utterance. The *streamed* WER runs the real stt service (live mode,
so no wake word is needed) behind a broker, streams each clip in real time as a
microphone would and scores what a consumer ends up with: the finals, each replaced by a
final that continues it. Side by side, the two show whether end-pointing costs accuracy.
Latency is end of speech in the input audio to the first final, over the command set.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tars.audio import speech
from tars.audio.pcm import Int16Array, silence
from tars.bench import env, material, report
from tars.bench.report import percentiles
from tars.bench.rig import Rig, UrlFor
from tars.bench.turn_score import streamed_text
from tars.commands.listen import broker_settings
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.runtime.loop import run as run_loop
from tars.runtime.settings import RuntimeSettings
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import Transcriber
from tars.services.stt.wer import corpus_wer

COMMANDS = (
    "what time is it",
    "set a timer for five minutes",
    "turn on the kitchen lights",
    "what is the weather like today",
    "play some music",
    "remind me to call mom tomorrow",
)
"""The fixed command set."""
VOICES: dict[str, Callable[[str], Int16Array]] = {
    "piper": speech.piper,
    "espeak": lambda text: speech.espeak(text, "en-us", 150),
}
PAUSED_KINDS = ("spliced", "ssml")
"""Paused material with natural pauses between phrases (see `tars.bench.material`)."""
PAUSED_PER_CELL = 2
"""Requests per (kind, pause): 16 paused utterances."""

Sample = tuple[str, str, Int16Array]
"""(set, reference text, audio)."""


def clips() -> list[Sample]:
    """(set, text, audio): every command in every voice, then the paused requests."""
    commands = [(voice, text, say(text)) for voice, say in VOICES.items() for text in COMMANDS]
    paused = [
        (clip.kind, clip.request.text, clip.audio)
        for clip in material.paused_clips(PAUSED_PER_CELL, PAUSED_KINDS)
    ]
    return commands + paused


def _by_set(pairs: list[tuple[str, str, str]]) -> dict[str, float]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, reference, hypothesis in pairs:
        groups.setdefault(name, []).append((reference, hypothesis))
    return {name: round(corpus_wer(group), 4) for name, group in groups.items()}


def accuracy(transcriber: Transcriber, set_: list[Sample]) -> dict[str, Any]:
    """WER and real-time factor of ``transcriber`` over the set, one call per utterance."""
    pairs, audio_s, elapsed_s = [], 0.0, 0.0
    for name, text, audio in set_:
        result = transcriber.transcribe(speech.utterance(audio, pad_s=0.3))
        pairs.append((name, text, result.text))
        audio_s += result.duration_s
        elapsed_s += result.elapsed_s
    return {
        "utterances": len(pairs),
        "wer": round(corpus_wer((ref, hyp) for _, ref, hyp in pairs), 4),
        "wer_by_set": _by_set(pairs),
        "rtf": round(elapsed_s / audio_s, 4) if audio_s else 0.0,
        "audio_s": round(audio_s, 2),
        "hypotheses": [hyp for _, _, hyp in pairs],
    }


def stt_service(transcriber: Transcriber) -> SttService:
    """The stt service in live mode around an already loaded transcriber."""
    # Live mode moved from SttSettings to the shared conversation settings: the
    # environment reaches it wherever it is read.
    with env.overrides({**env.LIVE, **env.SATELLITES}):
        return SttService(SttSettings(), transcriber=transcriber)


async def streamed(
    transcriber: Transcriber, set_: list[Sample], url_for: UrlFor, runtime: RuntimeSettings
) -> dict[str, Any]:
    """Stream every clip through the stt service; WER of what a consumer keeps, and latency."""
    service = stt_service(transcriber)
    pairs: list[tuple[str, str, str]] = []
    firsts: list[float] = []
    transcribe_ms: list[float] = []
    async with Rig(url_for, runtime, services=("stt",), prebuilt={"stt": service}) as rig:
        for name, text, audio in set_:
            played = await rig.play(np.concatenate([silence(0.5), audio]))
            finals = played.finals()
            pairs.append((name, text, streamed_text(finals)))
            if finals and name in VOICES:
                firsts.append(min(final.at_s for final in finals) * 1000.0)
            transcribe_ms += [e[2].transcribe_ms or 0.0 for e in played.of(TOPIC_STT_FINAL)]
    return {
        "wer": round(corpus_wer((ref, hyp) for _, ref, hyp in pairs), 4),
        "wer_by_set": _by_set(pairs),
        "hypotheses": [hyp for _, _, hyp in pairs],
        "finals": len(firsts),
        "expected": sum(name in VOICES for name, _, _ in set_),
        "eos_to_final_ms": percentiles(firsts),
        "transcribe_ms": percentiles(transcribe_ms),
        "service_counters": dict(service.bus.metrics.snapshot().counters),
    }


async def measure(runtime: RuntimeSettings) -> dict[str, Any]:
    """Run the whole stt benchmark."""
    from tars.services.stt.factory import build_transcriber

    settings = SttSettings()
    started = time.perf_counter()
    transcriber = await asyncio.to_thread(build_transcriber, settings)
    load_s = time.perf_counter() - started
    warm_up = getattr(transcriber, "warm_up", None)
    if callable(warm_up):
        await asyncio.to_thread(warm_up)
    set_ = await asyncio.to_thread(clips)
    results: dict[str, Any] = {
        "backend": settings.backend,
        "model": settings.model,
        "end_of_turn": getattr(settings, "end_of_turn", "n/a"),
        "load_s": round(load_s, 3),
        "cpu_count": os.cpu_count(),
    }
    results["accuracy"] = await asyncio.to_thread(accuracy, transcriber, set_)
    async with broker_settings() as settings_for:
        results["streamed"] = await streamed(transcriber, set_, settings_for, runtime)
    results["latency"] = {
        key: results["streamed"][key] for key in ("finals", "expected", "eos_to_final_ms")
    }
    return results


def side_by_side(results: dict[str, Any]) -> list[str]:
    """WER lines: whole-utterance call versus the streamed, end-pointed service, per set."""
    whole, stream = results["accuracy"], results["streamed"]
    lines = [f"WER whole call {whole['wer']:.3f} | streamed service {stream['wer']:.3f}"]
    for name, value in whole["wer_by_set"].items():
        lines.append(f"  {name:<8} whole {value:.3f} | streamed {stream['wer_by_set'][name]:.3f}")
    return lines


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench stt`: measure, print the headline figures, write the report."""
    print("bench stt: commands (piper + espeak) and paused requests, whole then streamed ...")
    results = run_loop(measure(runtime))
    acc, lat = results["accuracy"], results["latency"]
    eos = lat["eos_to_final_ms"]
    print(
        f"{results['model']} (end_of_turn {results['end_of_turn']}): RTF {acc['rtf']:.3f}; "
        f"end of speech -> final p50 {eos['p50']:.0f} ms, p90 {eos['p90']:.0f} ms "
        f"({lat['finals']}/{lat['expected']} finals)"
    )
    print("\n".join(side_by_side(results)))
    chart = {
        "RTF x1000": acc["rtf"] * 1000,
        "WER whole call %": acc["wer"] * 100,
        "WER streamed %": results["streamed"]["wer"] * 100,
        "EOS->final p50 ms": eos["p50"],
        "EOS->final p90 ms": eos["p90"],
    }
    print(f"report: {report.write(out_dir, 'stt', results, chart)}")
    return 0
