"""`tars bench voice`: TTS first audio and real-time factor, and voice-to-voice latency.

The TTS part runs the TTS service on the in-memory bus with the real voice and sends each
reply sentence by sentence, as the router does. The voice-to-voice part runs the whole stack
with `tars up` (`tars.bench.voice_stack`), plays synthesised requests as real-time frames on
``audio/bench/pcm`` and times the end of speech in the input audio to the first reply piece
on ``tts/audio/bench``, for rule-answered commands and for questions the embedded LLM
answers, with gaps in the reply audio and wrong, empty or dropped answers.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tars.bench import report
from tars.bench.report import percentiles
from tars.bench.rig import VOICE_SERVICES, private_broker
from tars.bench.voice_loop import VoiceRig, VoiceTurn, spoken_request
from tars.bench.voice_stack import IDLE_BEFORE_RSS_S, measure_stack
from tars.contracts.audio import tts_audio_topic
from tars.contracts.health import health_topic
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS, TtsSay, TtsStatus
from tars.runtime.bus import Message, RawMessage
from tars.runtime.loop import run as run_loop
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.runtime.settings import RuntimeSettings
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import Synthesizer, load_synthesizer
from tars.text.sentences import split_sentences

# The rig and the turn timing live in voice_loop (and rig); re-exported for existing users.
__all__ = ["VOICE_SERVICES", "VoiceRig", "VoiceTurn", "main", "private_broker", "spoken_request"]

TTS_REPLIES = (
    "It is 3:15 PM.",
    "Today is Tuesday, March 4, 2025.",
    "Hello Sam.",
    "Timer set for ten seconds.",
    "The kitchen lights are on. Anything else I can do for you?",
    "Tomorrow will be sunny and warm, with a light breeze in the afternoon. "
    "Take a jacket for the evening.",
)
"""Replies timed by the TTS part (sent one sentence per tts/say)."""
_TURN_TIMEOUT_S = 30.0


# -- TTS alone ------------------------------------------------------------------------------
async def measure_tts(synth: Synthesizer, replies: tuple[str, ...] = TTS_REPLIES) -> dict[str, Any]:
    """Time to first audio (first tts/say to first tts/audio piece) and RTF per reply."""
    memory = MemoryBroker()
    settings = TtsSettings(sink="null", cache_enable=False, audio_lead_ms=5000)
    with tempfile.TemporaryDirectory(prefix="tars-bench-tts-") as directory:
        service = TtsService(settings, Path(directory), synthesizer=synth)
        probe = MemoryBus("router", memory)
        first: dict[str, float] = {}
        ended: dict[str, asyncio.Event] = {}
        ready = asyncio.Event()

        async def on_health(message: Message) -> None:
            if message.data.event == "ready":
                ready.set()

        async def on_audio(message: RawMessage) -> None:
            first.setdefault(message.properties.get("utt_id", ""), time.perf_counter())

        async def on_status(message: Message) -> None:
            status: TtsStatus = message.data
            if status.event == "speaking_end" and status.utt_id in ended:
                ended[status.utt_id].set()

        probe.subscribe_raw(tts_audio_topic("bench"), on_audio)
        probe.subscribe(TOPIC_TTS_STATUS, on_status)
        probe.subscribe(health_topic("tts"), on_health)
        stop = asyncio.Event()
        probe_task = asyncio.create_task(probe.run(), name="bench:tts-probe")
        tts_task = asyncio.create_task(serve(service, MemoryBus("tts", memory), stop), name="tts")
        first_ms: list[float] = []
        rtfs: list[float] = []
        try:
            await asyncio.wait_for(ready.wait(), 60.0)
            for index, reply in enumerate(("Warm up.", *replies)):
                utt_id = f"bench-{index}"
                ended[utt_id] = asyncio.Event()
                pieces = split_sentences(reply)
                sent = time.perf_counter()
                for number, piece in enumerate(pieces):
                    say = TtsSay(
                        text=piece, utt_id=utt_id, satellite="bench", last=number == len(pieces) - 1
                    )
                    await probe.publish(TOPIC_TTS_SAY, say)
                await asyncio.wait_for(ended[utt_id].wait(), _TURN_TIMEOUT_S)
                if index:
                    first_ms.append((first[utt_id] - sent) * 1000.0)
                    rtfs.append(await asyncio.to_thread(_rtf, synth, reply))
        finally:
            stop.set()
            await asyncio.wait_for(tts_task, 10.0)
            probe_task.cancel()
            await asyncio.gather(probe_task, return_exceptions=True)
    return {
        "voice": synth.voice_id,
        "replies": len(replies),
        "first_audio_ms": percentiles(first_ms),
        "rtf": {"mean": round(float(np.mean(rtfs)), 4), "max": round(float(np.max(rtfs)), 4)},
    }


def _rtf(synth: Synthesizer, text: str) -> float:
    began = time.perf_counter()
    samples = sum(chunk.size for chunk in synth.synthesize(text))
    return (time.perf_counter() - began) / (samples / synth.sample_rate)


async def _measure_all(runtime: RuntimeSettings) -> dict[str, Any]:
    synth = await asyncio.to_thread(load_synthesizer, TtsSettings())
    results: dict[str, Any] = {"tts": await measure_tts(synth)}
    with tempfile.TemporaryDirectory(prefix="tars-bench-voice-") as directory:
        try:
            stack = await measure_stack(runtime, Path(directory))
        except Exception as err:  # a missing service or model must not hide the TTS figures
            results["voice"] = {"error": f"{type(err).__name__}: {err}"}
            return results
    # "voice" keeps its meaning (rule-answered commands), now through the whole stack.
    results["voice"] = stack.pop("rule")
    results["voice_llm"] = stack.pop("llm")
    results["stack"] = stack
    return results


def _print_group(name: str, group: dict[str, Any]) -> None:
    v2v = group["voice_to_voice_ms"]
    print(
        f"voice-to-voice, {name}: p50 {v2v['p50']:.0f} ms, p90 {v2v['p90']:.0f} ms "
        f"(target p50 <= {group['target_p50_ms']} ms); {group['turns_played']} turns, "
        f"{group['dropped']} dropped; gaps > 300 ms in reply audio: {group['gaps_over_300ms']} "
        f"(max gap {group['max_gap_ms']:.0f} ms over {group['reply_audio_s']:.0f} s of replies)"
    )
    if "text_correct" in group:
        print(
            f"  answers: {group['text_correct']}/{group['turns_played']} right in text, "
            f"{group['audio_correct']}/{group['turns_played']} right as heard back by Whisper, "
            f"{group['empty_replies']} empty"
        )
    for turn in group["turns"]:
        print(f"  {turn['utterance']!r}: {turn.get('latency_ms', turn.get('error'))} ms")
        print(f"    heard {turn.get('heard')!r}, reply {turn.get('reply')!r}")
        print(f"    stages {turn.get('stages_ms')}, gaps {turn.get('gaps_ms')}")
    print(f"  stage p50s: {group['stages_p50_ms']}")


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench voice`: measure, print the headline figures, write the report."""
    print("bench voice: TTS replies, then rule and LLM turns through `tars up` ...", flush=True)
    results = run_loop(_measure_all(runtime))
    tts = results["tts"]
    first = tts["first_audio_ms"]
    print(
        f"tts ({tts['voice']}): first audio p50 {first['p50']:.0f} ms, p90 {first['p90']:.0f} ms; "
        f"RTF mean {tts['rtf']['mean']:.3f}, max {tts['rtf']['max']:.3f}"
    )
    chart = {"tts first audio p50 ms": first["p50"], "tts rtf mean": tts["rtf"]["mean"]}
    if "error" in results["voice"]:
        print(f"voice-to-voice: not measured ({results['voice']['error']})")
    else:
        for key, name in (("voice", "rule-answered"), ("voice_llm", "LLM-answered")):
            _print_group(name, results[key])
            chart[f"{name} v2v p50 ms"] = results[key]["voice_to_voice_ms"]["p50"]
            chart[f"{name} v2v p90 ms"] = results[key]["voice_to_voice_ms"]["p90"]
        stack = results["stack"]
        print(
            f"stack: {stack['total_rss_mib']:.0f} MiB resident after the last turn, "
            f"{stack['total_rss_idle_mib']:.0f} MiB {IDLE_BEFORE_RSS_S:.0f} s later; ready after "
            f"{stack['ready_after_s']:.0f} s; conditions {stack['conditions']}"
        )
    print(f"report: {report.write(out_dir, 'voice', results, chart)}")
    return 0
