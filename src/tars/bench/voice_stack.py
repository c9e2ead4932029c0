"""Voice-to-voice through the running stack: `tars up` with every service, rule and LLM turns.

`tars up` runs in a scratch data directory with its own broker, every service in its own
process as in production (the embedded LLM, memory and mcp included; the bench is the
microphone). The bench logs in as the ``cli`` user, plays spoken requests (wake word first)
as real-time 20 ms frames on ``audio/bench/pcm`` and times the end of speech to the first
reply audio on ``tts/audio/bench``. Rule-answered commands and general-knowledge questions
the embedded LLM answers are interleaved in one run, so both see the same machine.

The failure side: turns with no reply (dropped), LLM replies that are empty or an apology,
and LLM replies whose audio, transcribed back by Whisper, lacks the expected keywords.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tars.audio.pcm import SAMPLE_RATE, Int16Array, resample
from tars.bench.llm_quality import Question, passes
from tars.bench.report import percentiles
from tars.bench.stack import tree_rss
from tars.bench.upstack import UpStack
from tars.bench.voice_loop import VOICE_UTTERANCES, VoiceRig, spoken_request, summarise
from tars.runtime.broker import free_port
from tars.runtime.malloc import RELEASE_INTERVAL_S
from tars.runtime.settings import RuntimeSettings
from tars.services import catalog

LLM_QUESTIONS: tuple[Question, ...] = (
    Question("general", "what is the capital of France", (("paris",),)),
    Question("general", "how many legs does a spider have", (("eight", "8"),)),
    Question("general", "which planet is called the red planet", (("mars",),)),
    Question("general", "who wrote Romeo and Juliet", (("shakespeare",),)),
    Question("general", "what is the largest ocean on Earth", (("pacific",),)),
    Question("general", "what is the opposite of hot", (("cold",),)),
    Question("arithmetic", "what is seven times eight", (("56", "fifty-six", "fifty six"),)),
    Question(
        "general",
        "name a fruit that is yellow",
        (("banana", "bananas", "lemon", "lemons", "pineapple", "pineapples"),),
    ),
)
"""Short spoken questions no rule answers, with the keywords a right answer contains."""
GAP_MS = 300.0
"""A silence inside a reply longer than this counts as an audible gap."""
_BETWEEN_TURNS_S = 1.0
IDLE_BEFORE_RSS_S = 2 * RELEASE_INTERVAL_S + 2.0
"""Seconds the stack idles after the last turn before its resident memory is read again."""


def stack_services() -> list[str]:
    """What `tars up` runs here, minus the microphone (the bench is the microphone)."""
    return [s for s in catalog.available() if s != "mic" and s not in catalog.ATTACHED]


def _stack_env(runtime: RuntimeSettings) -> dict[str, str]:
    env = {
        "TTS_SINK": "null",  # the bench satellite gets tts/audio/bench; no sound card needed
        "ROUTER_ONLINE_ANNOUNCE": "0",
        "TARS_SATELLITES": "",
        "STT_SATELLITES": "",
        "STT_SATELLITE_PARTITION": "",
        "WAKE_SATELLITES": "",
        "WAKE_SATELLITE_PARTITION": "",
        "UI_WEB_PORT": str(free_port()),  # never collide with a stack someone else runs
        "CAMERA_HTTP_PORT": str(free_port()),
    }
    # The joined embedded model is 1.1 GB: reuse the one in the usual data dir.
    env["LLM_DATA_DIR"] = os.environ.get("LLM_DATA_DIR", str(runtime.data_dir))
    return env


def schedule(
    rules: tuple[str, ...], questions: tuple[Question, ...]
) -> Iterator[tuple[str, str, Question | None]]:
    """(kind, text, question) turns: LLM and rule turns alternate; a timer command goes last.

    The timer goes last because its announcement, ten seconds later, would interrupt a reply.
    """
    timers = [text for text in rules if "timer" in text]
    others = [text for text in rules if "timer" not in text]
    for index in range(max(len(others), len(questions))):
        if index < len(questions):
            yield "llm", questions[index].text, questions[index]
        if index < len(others):
            yield "rule", others[index], None
    for text in timers:
        yield "rule", text, None


async def _play_turn(rig: VoiceRig, kind: str, text: str, clip: Int16Array) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "utterance": text}
    try:
        turn = await rig.turn(clip)
    except TimeoutError:
        entry["error"] = "no reply"
        return entry
    entry.update(
        heard=turn.heard,
        reply=turn.reply_text,
        latency_ms=round(turn.latency_ms, 1),
        stages_ms=turn.stages_ms,
        gaps_ms=turn.gaps_ms,
        audio_s=round(turn.reply_audio.size / turn.rate, 2) if turn.rate else 0.0,
        _audio=(turn.reply_audio, turn.rate),
    )
    return entry


async def play_all(
    rig: VoiceRig, rules: tuple[str, ...], questions: tuple[Question, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Warm up with one turn of each kind, then play the schedule; (warm-up, timed) entries."""
    turns = list(schedule(rules, questions))
    clips = {text: await asyncio.to_thread(spoken_request, text) for _, text, _ in turns}
    warm_texts = ("what's the time", "what colour is the sky")
    warm_clips = [await asyncio.to_thread(spoken_request, text) for text in warm_texts]
    warm_up = []
    for kind, text, clip in zip(("rule", "llm"), warm_texts, warm_clips, strict=True):
        warm_up.append(await _play_turn(rig, kind, text, clip))
        await asyncio.sleep(_BETWEEN_TURNS_S)
    timed = []
    for kind, text, question in turns:
        entry = await _play_turn(rig, kind, text, clips[text])
        if question is not None:
            entry["_question"] = question
        print(f"  {kind}: {text!r} -> {entry.get('reply', entry.get('error'))!r} "
              f"{entry.get('latency_ms', '-')} ms", flush=True)  # fmt: skip
        timed.append(entry)
        await asyncio.sleep(_BETWEEN_TURNS_S)
    return warm_up, timed


def score_replies(entries: list[dict[str, Any]]) -> None:
    """Transcribe each reply's audio back with Whisper and check LLM answers' keywords."""
    from tars.services.stt.whisper_engine import WhisperOptions, WhisperTranscriber

    whisper = WhisperTranscriber(WhisperOptions(model="tiny.en"))
    for entry in entries:
        audio = entry.pop("_audio", None)
        question: Question | None = entry.pop("_question", None)
        if audio is not None and audio[1] and audio[0].size:
            samples = resample(audio[0], audio[1], SAMPLE_RATE)
            entry["heard_back"] = whisper.transcribe(samples).text.strip()
        if question is not None:
            entry["text_ok"] = passes(question, entry.get("reply", ""))
            entry["audio_ok"] = passes(question, entry.get("heard_back", ""))


def group_summary(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency percentiles, stage medians, gaps and the failure side of one kind of turn."""
    answered = [e for e in entries if "latency_ms" in e]
    gaps = [gap for e in answered for gap in e.get("gaps_ms", [])]
    long_gaps = [gap for gap in gaps if gap > GAP_MS]
    summary = summarise(entries)
    summary.update(
        turns_played=len(entries),
        dropped=len(entries) - len(answered),
        gaps_over_300ms=len(long_gaps),
        turns_with_gaps_over_300ms=sum(
            any(gap > GAP_MS for gap in e.get("gaps_ms", [])) for e in answered
        ),
        gap_ms=percentiles(gaps) if gaps else None,
        max_gap_ms=round(max(gaps), 1) if gaps else 0.0,
        reply_audio_s=round(sum(e.get("audio_s", 0.0) for e in answered), 1),
    )
    if any("text_ok" in e for e in entries):
        summary["empty_replies"] = sum(not e.get("reply", "").strip() for e in answered)
        summary["text_correct"] = sum(bool(e.get("text_ok")) for e in entries)
        summary["audio_correct"] = sum(bool(e.get("audio_ok")) for e in entries)
    return summary


def _conditions(services: list[str], load_before: tuple[float, ...]) -> dict[str, Any]:
    names = ("LLM_EMBEDDED_THREADS", "LLM_EMBEDDED_BATCH_THREADS", "LLM_MAX_TOKENS")
    return {
        "cpus": os.cpu_count(),
        "load_avg_before": [round(v, 2) for v in load_before],
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "services": services,
        "llm_env": {name: os.environ[name] for name in names if name in os.environ},
    }


async def measure_stack(
    runtime: RuntimeSettings,
    work_dir: Path,
    rules: tuple[str, ...] = VOICE_UTTERANCES,
    questions: tuple[Question, ...] = LLM_QUESTIONS,
) -> dict[str, Any]:
    """Run the stack, play every turn, stop it, score the replies; the report section."""
    services = stack_services()
    started = time.monotonic()
    async with (
        UpStack(services, work_dir, _stack_env(runtime)) as stack,
        VoiceRig(stack.settings, runtime, services=()) as rig,
    ):
        ready_s = time.monotonic() - started
        load_before = os.getloadavg()
        warm_up, timed = await play_all(rig, rules, questions)
        rss = tree_rss(stack.pid)
        conditions = _conditions(services, load_before)
        # Between turns: every service gives freed heap memory back each RELEASE_INTERVAL_S.
        # Two intervals, because the timer set by the last turn rings within the first one.
        await asyncio.sleep(IDLE_BEFORE_RSS_S)
        rss_idle = tree_rss(stack.pid)
    await asyncio.to_thread(score_replies, warm_up + timed)
    return {
        "rule": {**group_summary([e for e in timed if e["kind"] == "rule"]), "target_p50_ms": 300},
        "llm": {**group_summary([e for e in timed if e["kind"] == "llm"]), "target_p50_ms": 1000},
        "warm_up": warm_up,
        "ready_after_s": round(ready_s, 1),
        "rss_mib": {name: round(size, 1) for name, size in sorted(rss.items())},
        "total_rss_mib": round(sum(rss.values()), 1),
        "rss_idle_mib": {name: round(size, 1) for name, size in sorted(rss_idle.items())},
        "total_rss_idle_mib": round(sum(rss_idle.values()), 1),
        "conditions": conditions,
    }
