"""`tars bench voice`: TTS first audio and real-time factor, and voice-to-voice latency.

The TTS part runs the TTS service on the in-memory bus with the real voice and sends each
reply sentence by sentence, as the router does. The voice-to-voice part runs wake, stt,
router and tts in this process on a private broker (each on its own MQTT connection),
plays synthesised utterances as real-time frames on ``audio/<satellite>/pcm`` and times
the end of speech in the input audio to the first reply piece on ``tts/audio/<satellite>``.
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
from tars.bench.voice_loop import VoiceRig, VoiceTurn, measure_voice, spoken_request
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
        async with private_broker(Path(directory) / "broker") as config:
            rig_runtime = runtime.model_copy(update={"data_dir": Path(directory) / "data"})
            try:
                results["voice"] = await measure_voice(config.url, rig_runtime)
            except Exception as err:  # a missing service or model must not hide the TTS figures
                results["voice"] = {"error": f"{type(err).__name__}: {err}"}
    return results


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench voice`: measure, print the headline figures, write the report."""
    print("bench voice: TTS replies, then wake+stt+router+tts turns ...", flush=True)
    results = run_loop(_measure_all(runtime))
    tts = results["tts"]
    first = tts["first_audio_ms"]
    print(
        f"tts ({tts['voice']}): first audio p50 {first['p50']:.0f} ms, p90 {first['p90']:.0f} ms; "
        f"RTF mean {tts['rtf']['mean']:.3f}, max {tts['rtf']['max']:.3f}"
    )
    chart = {"tts first audio p50 ms": first["p50"], "tts rtf mean": tts["rtf"]["mean"]}
    voice = results["voice"]
    if "error" in voice:
        print(f"voice-to-voice: not measured ({voice['error']})")
    else:
        v2v = voice["voice_to_voice_ms"]
        print(
            f"voice-to-voice: p50 {v2v['p50']:.0f} ms, p90 {v2v['p90']:.0f} ms "
            f"(target p50 < {voice['target_p50_ms']} ms)"
        )
        for turn in voice["turns"]:
            print(f"  {turn['utterance']!r}: {turn.get('latency_ms', turn.get('error'))} ms")
            print(f"    heard {turn.get('heard')!r}, reply {turn.get('reply')!r}")
            print(f"    stages {turn.get('stages_ms')}")
        print(f"  stage p50s: {voice['stages_p50_ms']}")
        chart["voice-to-voice p50 ms"] = v2v["p50"]
        chart["voice-to-voice p90 ms"] = v2v["p90"]
    print(f"report: {report.write(out_dir, 'voice', results, chart)}")
    return 0
