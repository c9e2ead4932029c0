"""`tars bench stt`: Whisper speed and accuracy, and end-of-speech to final latency.

The fixed set is synthesised speech (the Piper voice and espeak-ng) of short commands.
Real-time factor and WER come from the transcriber alone; latency runs the real stt
service (live mode, so no wake word is needed) behind a private broker, streams each
clip in real time as a microphone would, and measures from the end of speech (the
final's ``speech_end_ts``) to the final's arrival.
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
from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_bytes, silence
from tars.bench import report
from tars.bench.report import percentiles
from tars.commands.listen import broker_settings
from tars.contracts.audio import pcm_topic
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.runtime.bus import Message
from tars.runtime.loop import run as run_loop
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import serve
from tars.runtime.settings import MqttSettings, RuntimeSettings
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
_FRAME = 320


def clips() -> list[tuple[str, str, Int16Array]]:
    """(voice, text, audio) for every command in every voice."""
    return [(voice, text, say(text)) for voice, say in VOICES.items() for text in COMMANDS]


def accuracy(transcriber: Transcriber, set_: list[tuple[str, str, Int16Array]]) -> dict[str, Any]:
    """WER and real-time factor of ``transcriber`` over the set."""
    pairs, audio_s, elapsed_s = [], 0.0, 0.0
    per_voice: dict[str, list[tuple[str, str]]] = {}
    for voice, text, audio in set_:
        padded = speech.utterance(audio, pad_s=0.3)
        result = transcriber.transcribe(padded)
        pairs.append((text, result.text))
        per_voice.setdefault(voice, []).append((text, result.text))
        audio_s += result.duration_s
        elapsed_s += result.elapsed_s
    return {
        "utterances": len(pairs),
        "wer": round(corpus_wer(pairs), 4),
        "wer_by_voice": {voice: round(corpus_wer(p), 4) for voice, p in per_voice.items()},
        "rtf": round(elapsed_s / audio_s, 4) if audio_s else 0.0,
        "audio_s": round(audio_s, 2),
        "hypotheses": [hyp for _, hyp in pairs],
    }


async def latency(
    transcriber: Transcriber,
    set_: list[tuple[str, str, Int16Array]],
    settings_for: Callable[[str], MqttSettings],
) -> dict[str, Any]:
    """End-of-speech to stt/final latency through the service and a broker, in ms."""
    service = SttService(SttSettings(live_mode=True), transcriber=transcriber)
    client = MqttBus("cli", settings_for("cli"), health=False)
    arrivals: list[tuple[float, Message]] = []
    arrived = asyncio.Event()

    async def on_final(message: Message) -> None:
        arrivals.append((time.time(), message))
        arrived.set()

    client.subscribe(TOPIC_STT_FINAL, on_final)
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        client_task = group.create_task(client.run(), name="bench:client")
        runner = group.create_task(
            serve(service, MqttBus("stt", settings_for("stt")), stop), name="bench:stt"
        )
        try:
            await asyncio.wait_for(client.wait_connected(), 10)
            await asyncio.wait_for(service._ready.wait(), 60)
            for index, (_, _, audio) in enumerate(set_):
                arrived.clear()
                await _stream_realtime(client, f"bench{index % 2}", audio)
                try:
                    await asyncio.wait_for(arrived.wait(), 5.0)
                except TimeoutError:
                    continue
        finally:
            stop.set()
            await asyncio.gather(runner, return_exceptions=True)
            client_task.cancel()
    latencies = [
        (at - message.data.speech_end_ts) * 1000
        for at, message in arrivals
        if message.data.speech_end_ts is not None
    ]
    return {
        "finals": len(arrivals),
        "expected": len(set_),
        "eos_to_final_ms": percentiles(latencies),
        "transcribe_ms": percentiles([m.data.transcribe_ms or 0.0 for _, m in arrivals]),
        "service_counters": dict(service.bus.metrics.snapshot().counters),
    }


async def _stream_realtime(client: MqttBus, satellite: str, audio: Int16Array) -> None:
    padded = np.concatenate([silence(0.5), audio, silence(1.5)])
    start_wall, start = time.time(), time.monotonic()
    for seq, offset in enumerate(range(0, padded.size - _FRAME + 1, _FRAME)):
        delay = start + (seq + 1) * _FRAME / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        properties = {"seq": str(seq), "ts": f"{start_wall + offset / SAMPLE_RATE:.6f}"}
        frame = int16_to_bytes(padded[offset : offset + _FRAME])
        await client.publish_raw(pcm_topic(satellite), frame, properties=properties)


async def measure() -> dict[str, Any]:
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
        "load_s": round(load_s, 3),
        "cpu_count": os.cpu_count(),
    }
    results["accuracy"] = await asyncio.to_thread(accuracy, transcriber, set_)
    async with broker_settings() as settings_for:
        results["latency"] = await latency(transcriber, set_, settings_for)
    return results


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench stt`: measure, print the headline figures, write the report."""
    del runtime
    print("bench stt: 12 utterances (piper + espeak), then real-time latency ...", flush=True)
    results = run_loop(measure())
    acc, lat = results["accuracy"], results["latency"]
    eos = lat["eos_to_final_ms"]
    print(
        f"{results['model']}: RTF {acc['rtf']:.3f}, WER {acc['wer']:.3f} "
        f"({acc['wer_by_voice']}); end of speech -> final p50 {eos['p50']:.0f} ms, "
        f"p90 {eos['p90']:.0f} ms ({lat['finals']}/{lat['expected']} finals)"
    )
    chart = {
        "RTF x1000": acc["rtf"] * 1000,
        "WER %": acc["wer"] * 100,
        "EOS->final p50 ms": eos["p50"],
        "EOS->final p90 ms": eos["p90"],
    }
    print(f"report: {report.write(out_dir, 'stt', results, chart)}")
    return 0
