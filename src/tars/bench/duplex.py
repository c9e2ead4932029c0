"""`tars bench duplex`: TARS talking and listening at once, in a simulated room.

The whole voice loop (wake, stt, router, tts, and the mic in duplex mode with WebRTC AEC3)
runs against `duplex_room.SimulatedRoom`: TARS's replies come back into the microphone
40-150 ms late, reverberated (RT60 0.3 s) and, in some rooms, louder than the user, over
light noise. An LLM stand-in answers every typed request with a long story. Reported:

* echo only (``TARS_BENCH_DUPLEX_ECHO_S``, default 180 s of TARS speaking): echo return loss
  enhancement, and every false alarm: wake events, transcripts, rejections and voice
  barge-ins caused by TARS's own voice (target: no wake event, no transcript);
* interruptions (``TARS_BENCH_DUPLEX_TRIALS``, default 20, with and without the wake word):
  detected when the reply pauses or stops, and the time from the user's first syllable to
  that (target: >= 90 % detected, p50 <= 300 ms); what stt heard, and whether the reply
  stopped for "stop" and for questions;
* backchannels and coughs (``TARS_BENCH_DUPLEX_NOT_TURNS``, default 10): false stops (the
  reply was cut) and false pauses (paused, then resumed; with how long).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tars.bench import env, report
from tars.bench.duplex_material import interruptions, not_turns
from tars.bench.duplex_room import RoomConfig
from tars.bench.duplex_stack import duplex_stack
from tars.bench.duplex_trials import echo_only, run_trials
from tars.bench.report import percentiles
from tars.bench.rig import private_broker
from tars.runtime.loop import run as run_loop
from tars.runtime.settings import RuntimeSettings

STORY = " ".join(
    f"The little robot walked slowly to the {place} and looked at the {thing} for a while."
    for place, thing in (
        ("harbour", "boats"), ("old mill", "clouds"), ("lighthouse", "waves"),
        ("market", "lanterns"), ("forest", "birds"), ("library", "books"),
    )
)  # fmt: skip
"""The LLM stand-in's answer to every request (about 25 s of speech)."""
ROOMS = [
    RoomConfig(echo_delay_ms=delay, echo_gain=gain, rt60_s=0.3, direct_ratio=0.85, noise_rms=40)
    for delay, gain in ((40, 0.7), (90, 1.0), (150, 1.3), (90, 1.6))
]
"""Delay and level of the echo: from 3 dB below the played speech to 4 dB above it (the user
speaks about 2 dB louder than TARS plays, so at gains 1.3 and 1.6 the echo is louder)."""


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _rate(trials: list[dict[str, Any]], check: Any) -> float:
    return round(100.0 * sum(1 for t in trials if check(t)) / len(trials), 1) if trials else 0.0


def summarize_interruptions(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Detection rate and latency, overall, by kind and by echo gain."""
    detected = [t for t in trials if t["paused_after_ms"] is not None]
    groups: dict[str, Any] = {}
    for key in ("kind", "echo_gain"):
        for value in sorted({t[key] for t in trials}):
            chosen = [t for t in trials if t[key] == value]
            groups[f"{key}={value}"] = {
                "n": len(chosen),
                "detected_pct": _rate(chosen, lambda t: t["paused_after_ms"] is not None),
            }
    return {
        "n": len(trials),
        "detected_pct": _rate(trials, lambda t: t["paused_after_ms"] is not None),
        "first_syllable_to_pause_ms": percentiles([t["paused_after_ms"] for t in detected]),
        "first_syllable_to_speaker_quiet_ms": percentiles(
            [t["speaker_quiet_after_ms"] for t in detected if t["speaker_quiet_after_ms"]]
        ),
        "stop_requests_stopped_pct": _rate(
            [t for t in trials if "stop" in t["text"].lower()], lambda t: t["outcome"] == "stopped"
        ),
        "questions_transcribed_pct": _rate(
            [t for t in trials if "time" in t["text"].lower()],
            lambda t: "time" in (t["heard"] or "").lower(),
        ),
        "groups": groups,
        "trials": trials,
    }


def summarize_not_turns(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """False stops and false pauses on backchannels and coughs."""
    pauses = [t["pause_s"] * 1000 for t in trials if t["pause_s"] is not None]
    return {
        "n": len(trials),
        "false_stops": sum(1 for t in trials if t["outcome"] == "stopped"),
        "false_pauses": sum(1 for t in trials if t["paused_after_ms"] is not None),
        "pause_length_ms": percentiles(pauses),
        "trials": trials,
    }


async def _measure(runtime: RuntimeSettings) -> dict[str, Any]:
    echo_s = float(_int_env("TARS_BENCH_DUPLEX_ECHO_S", 180))
    clips = await asyncio.to_thread(interruptions, _int_env("TARS_BENCH_DUPLEX_TRIALS", 20))
    others = await asyncio.to_thread(not_turns, _int_env("TARS_BENCH_DUPLEX_NOT_TURNS", 10))
    quiet_env = {**env.QUIET, **env.SATELLITES, "ROUTER_WAKE_ACK_ENABLED": "0"}
    with env.overrides(quiet_env), tempfile.TemporaryDirectory() as folder:
        async with (
            private_broker(Path(folder)) as config,
            duplex_stack(config.url, runtime, ROOMS[1], reply=STORY) as stack,
        ):
            try:
                print(f"echo only: TARS speaks for {echo_s:.0f} s ...", flush=True)
                echo = await echo_only(stack, echo_s, ROOMS)
                print(f"interruptions ({len(clips)}) ...", flush=True)
                barge = summarize_interruptions(await run_trials(stack, clips, ROOMS))
                print(f"backchannels and coughs ({len(others)}) ...", flush=True)
                others_report = summarize_not_turns(await run_trials(stack, others, ROOMS))
            finally:
                trace = stack.seen.summary()
                print(f"trace of the run:\n{trace}", file=sys.stderr)
            lag_s = stack.room.max_lag_s
    return {
        "conditions": {
            "rooms": [room.__dict__ for room in ROOMS],
            "aec": "webrtc AEC3 (pywebrtc-audio 0.2.0), no noise suppression",
            "user_voices": ["piper joe", "espeak-ng en-gb"],
            "machine_load_1min": os.getloadavg()[0],
            "room_max_lag_s": round(lag_s, 2),
        },
        "echo_only": echo,
        "interruptions": barge,
        "backchannels_and_coughs": others_report,
        "trace": trace.splitlines(),
    }


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench duplex`: measure, print the headline figures, write the report."""
    print("bench duplex: the voice loop in a simulated room with echo cancelling ...", flush=True)
    results = run_loop(_measure(runtime))
    echo, barge = results["echo_only"], results["interruptions"]
    others = results["backchannels_and_coughs"]
    latency = barge["first_syllable_to_pause_ms"]
    print(
        f"echo only ({echo['tars_speaking_s']} s): ERLE mean {echo['erle_db_mean']} dB, "
        f"wake false accepts {echo['wake_false_accepts']}, transcripts "
        f"{echo['transcripts_from_echo']}, rejections {echo['rejections_from_echo']}, "
        f"false voice barge-ins {echo['false_voice_barge_ins']}"
    )
    print(
        f"interruptions: {barge['detected_pct']} % of {barge['n']} detected, first syllable "
        f"to pause p50 {latency['p50']:.0f} ms, p90 {latency['p90']:.0f} ms (speaker quiet "
        f"p50 {barge['first_syllable_to_speaker_quiet_ms']['p50']:.0f} ms); stops obeyed "
        f"{barge['stop_requests_stopped_pct']} %, questions heard "
        f"{barge['questions_transcribed_pct']} %"
    )
    print(
        f"backchannels and coughs: {others['false_stops']} false stops, "
        f"{others['false_pauses']} false pauses of {others['n']}"
    )
    chart = {
        "ERLE dB": echo["erle_db_mean"] or 0.0,
        "interruptions detected %": barge["detected_pct"],
        "first syllable to pause p50 ms": latency["p50"],
        "false stops": float(others["false_stops"]),
        "false pauses": float(others["false_pauses"]),
        "transcripts from echo": float(echo["transcripts_from_echo"]),
    }
    trace = results.pop("trace")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench-duplex-trace.txt").write_text("\n".join(trace) + "\n")
    print(f"report: {report.write(out_dir, 'duplex', results, chart)}")
    return 0
