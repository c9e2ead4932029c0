"""`tars bench voice`: TTS first audio and real-time factor, and voice-to-voice latency.

The TTS part runs the TTS service on the in-memory bus with the real voice and sends each
reply sentence by sentence, as the router does. The voice-to-voice part runs wake, stt,
router and tts in this process on a private broker (each on its own MQTT connection),
plays synthesised utterances as real-time frames on ``audio/<satellite>/pcm`` and times
the end of speech in the input audio to the first reply piece on ``tts/audio/<satellite>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from tars.audio.pcm import SAMPLE_RATE, Int16Array, bytes_to_int16, frames, rms, silence
from tars.bench import report
from tars.bench.report import percentiles
from tars.contracts.audio import pcm_topic, tts_audio_topic
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, ConversationTurn
from tars.contracts.health import HEALTH_PATTERN, health_topic
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS, TtsSay, TtsStatus
from tars.runtime import broker
from tars.runtime.bus import Message, RawMessage
from tars.runtime.loop import run as run_loop
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service, serve
from tars.runtime.settings import MqttSettings, RuntimeSettings
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import Synthesizer, load_synthesizer
from tars.text.sentences import split_sentences

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
VOICE_UTTERANCES = (
    "what time is it",
    "what is the date today",
    "say hello Sam",
    "what's the time",
    "what day is it",
    "set a timer for ten seconds",
)
"""Rule-answered requests timed end to end, each spoken after the wake word."""
WAKE_WORD = "okay nabu"
VOICE_SERVICES = ("tts", "router", "stt", "wake")
"""Services the voice-to-voice part runs, consumers first."""
_SPEECH_RMS = 300.0
_FRAME_MS = 20
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


# -- the whole voice loop --------------------------------------------------------------------
@dataclass
class VoiceTurn:
    """What one spoken request produced."""

    heard: str
    """The stt/final text."""
    reply_text: str
    """What the router answered (conversation/turn), empty if no turn came."""
    reply_audio: Int16Array
    """Reply audio received on tts/audio/<satellite>."""
    rate: int
    """Its sample rate, Hz."""
    latency_ms: float
    """End of speech in the input audio to the first reply audio piece."""
    stages_ms: dict[str, float] = field(default_factory=dict)
    """Where the latency went (see :meth:`VoiceRig.turn`)."""


class VoiceRig:
    """wake + stt + router + tts in this process, each on its own MQTT connection."""

    def __init__(
        self, url_for: Callable[[str], str], runtime: RuntimeSettings, satellite: str = "bench"
    ) -> None:
        """Prepare the rig.

        Args:
            url_for: MQTT URL for a broker user (each service logs in as itself).
            runtime: Runtime settings (the data dir) handed to every service's ``build``.
            satellite: The remote satellite the utterances come from.
        """
        self.satellite = satellite
        self._url_for = url_for
        self._runtime = runtime
        self._probe = MqttBus("cli", _mqtt(url_for("cli")), health=False)
        self._events: list[tuple[float, str, Any]] = []
        self._changed = asyncio.Event()
        self._ready: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        for topic in (TOPIC_TTS_STATUS, TOPIC_TTS_SAY, TOPIC_STT_FINAL, TOPIC_CONVERSATION_TURN):
            self._probe.subscribe(topic, self._on_message)
        self._probe.subscribe(HEALTH_PATTERN, self._on_health)
        self._probe.subscribe_raw(tts_audio_topic(satellite), self._on_audio)

    async def __aenter__(self) -> VoiceRig:
        """Start the probe and the services; return once all four report ready."""
        self._tasks.append(asyncio.create_task(self._probe.run(), name="rig:probe"))
        await asyncio.wait_for(self._probe.wait_connected(), 10.0)
        for name in VOICE_SERVICES:
            module = importlib.import_module(f"tars.services.{name}.service")
            service: Service = module.build(self._runtime)
            bus = MqttBus(name, _mqtt(self._url_for(name)))
            self._tasks.append(asyncio.create_task(serve(service, bus, self._stop), name=name))
        await self._wait(lambda: self._ready >= set(VOICE_SERVICES), 180.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the services and the probe."""
        self._stop.set()
        services, probe = self._tasks[1:], self._tasks[0]
        await asyncio.wait(services, timeout=10.0)
        for task in (*services, probe):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def turn(self, speech: Int16Array) -> VoiceTurn:
        """Play ``speech`` (16 kHz) in real time and wait for the spoken reply.

        Stages: ``stt_final`` = end of speech to stt/final (VAD hangover + transcription),
        ``transcribe`` = the STT's own transcription time, ``router`` = stt/final to the
        first tts/say of the reply, ``tts`` = that tts/say to the first reply audio piece.

        Raises:
            TimeoutError: no reply within 30 s.
        """
        since = len(self._events)
        end_s = _speech_end_s(speech)
        feeder = asyncio.create_task(self._feed(speech), name="rig:feed")
        try:
            began = await self._feed_started(since)
            speech_end = began + end_s
            start = await self._find(since, lambda e: _reply_start(e, self.satellite))
            utt_id = start[2].utt_id
            await self._find(since, lambda e: _is_status(e, "speaking_end", utt_id))
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        events = self._events[since:]
        audio = [e for e in events if e[1] == "audio" and e[2].properties.get("utt_id") == utt_id]
        final = next((e for e in events if e[1] == TOPIC_STT_FINAL), None)
        say = next((e for e in events if e[1] == TOPIC_TTS_SAY and e[2].utt_id == utt_id), None)
        with contextlib.suppress(TimeoutError):
            await self._find(since, lambda e: e[1] == TOPIC_CONVERSATION_TURN, 3.0)
        turn = next((e[2] for e in self._events[since:] if e[1] == TOPIC_CONVERSATION_TURN), None)
        stages: dict[str, float] = {}
        if final is not None:
            stages["stt_final"] = (final[0] - speech_end) * 1000.0
            stages["transcribe"] = final[2].transcribe_ms or 0.0
        if final is not None and say is not None:
            stages["router"] = (say[0] - final[0]) * 1000.0
        if say is not None and audio:
            stages["tts"] = (audio[0][0] - say[0]) * 1000.0
        if isinstance(turn, ConversationTurn):
            stages.update({f"turn.{k}": v for k, v in turn.timings_ms.items()})
        samples = [bytes_to_int16(e[2].payload) for e in audio]
        return VoiceTurn(
            heard=final[2].text if final is not None else "",
            reply_text=turn.reply if isinstance(turn, ConversationTurn) else "",
            reply_audio=np.concatenate(samples) if samples else silence(0.0),
            rate=start[2].sample_rate or 0,
            latency_ms=(audio[0][0] - speech_end) * 1000.0 if audio else float("nan"),
            stages_ms={k: round(v, 1) for k, v in stages.items()},
        )

    async def _feed(self, speech: Int16Array) -> None:
        """Publish ``speech`` then silence as 20 ms frames, paced in real time."""
        topic = pcm_topic(self.satellite)
        quiet = frames(silence(_FRAME_MS / 1000), _FRAME_MS)[0]
        began = time.perf_counter()
        self._events.append((began, "feed", None))
        self._changed.set()
        for index, frame in enumerate(_frames_then_silence(speech, quiet)):
            delay = began + index * _FRAME_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            properties = {"seq": str(index), "ts": f"{time.time():.6f}"}
            await self._probe.publish_raw(topic, frame, properties=properties)

    async def _feed_started(self, since: int) -> float:
        event = await self._find(since, lambda e: e[1] == "feed", 5.0)
        return float(event[0])

    async def _on_message(self, message: Message) -> None:
        self._events.append((time.perf_counter(), message.topic, message.data))
        self._changed.set()

    async def _on_audio(self, message: RawMessage) -> None:
        self._events.append((time.perf_counter(), "audio", message))
        self._changed.set()

    async def _on_health(self, message: Message) -> None:
        name = message.topic.rsplit("/", 1)[-1]
        if message.data.ok and message.data.event in ("ready", "heartbeat"):
            self._ready.add(name)
        self._changed.set()

    async def _find(
        self,
        since: int,
        check: Callable[[tuple[float, str, Any]], bool],
        limit_s: float = _TURN_TIMEOUT_S,
    ) -> tuple[float, str, Any]:
        found: list[tuple[float, str, Any]] = []

        def look() -> bool:
            found[:] = [e for e in self._events[since:] if check(e)]
            return bool(found)

        await self._wait(look, limit_s)
        return found[0]

    async def _wait(self, check: Callable[[], bool], limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not check():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the voice rig waited too long")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))


def _mqtt(url: str) -> MqttSettings:
    return MqttSettings(url=SecretStr(url), reconnect_min_s=0.1, reconnect_max_s=0.5)


def _frames_then_silence(speech: Int16Array, quiet: bytes) -> Iterator[bytes]:
    yield from frames(speech, _FRAME_MS)
    while True:
        yield quiet


def _speech_end_s(speech: Int16Array) -> float:
    """End of the last 20 ms frame louder than the speech threshold, in s from the start."""
    step = SAMPLE_RATE * _FRAME_MS // 1000
    loud = [i for i in range(0, speech.size, step) if rms(speech[i : i + step]) > _SPEECH_RMS]
    return (loud[-1] + step) / SAMPLE_RATE if loud else 0.0


def _is_status(event: tuple[float, str, Any], name: str, utt_id: str | None) -> bool:
    data = event[2]
    return event[1] == TOPIC_TTS_STATUS and data.event == name and data.utt_id == utt_id


def _reply_start(event: tuple[float, str, Any], satellite: str) -> bool:
    data = event[2]
    return (
        event[1] == TOPIC_TTS_STATUS
        and data.event == "speaking_start"
        and data.satellite == satellite
        and not data.wake_ack
        and not data.system_announce
    )


def spoken_request(text: str) -> Int16Array:
    """The wake word and ``text`` spoken by the Piper voice at 16 kHz, padded with silence."""
    from tars.audio import speech

    return speech.utterance(speech.piper(WAKE_WORD), speech.piper(text), gap_s=0.3, pad_s=0.5)


async def measure_voice(
    url_for: Callable[[str], str],
    runtime: RuntimeSettings,
    utterances: tuple[str, ...] = VOICE_UTTERANCES,
) -> dict[str, Any]:
    """Voice-to-voice latency over ``utterances`` (wake word first), with stage splits."""
    clips = [await asyncio.to_thread(spoken_request, text) for text in utterances]
    turns: list[dict[str, Any]] = []
    async with VoiceRig(url_for, runtime) as rig:
        for text, clip in zip(utterances, clips, strict=True):
            try:
                turn = await rig.turn(clip)
            except TimeoutError:
                turns.append({"utterance": text, "error": "no reply"})
                continue
            turns.append(
                {
                    "utterance": text,
                    "heard": turn.heard,
                    "reply": turn.reply_text,
                    "latency_ms": round(turn.latency_ms, 1),
                    "stages_ms": turn.stages_ms,
                }
            )
            await asyncio.sleep(1.0)
    latencies = [t["latency_ms"] for t in turns if "latency_ms" in t]
    stages: dict[str, list[float]] = {}
    for entry in turns:
        for name, value in entry.get("stages_ms", {}).items():
            stages.setdefault(name, []).append(value)
    return {
        "turns": turns,
        "voice_to_voice_ms": percentiles(latencies),
        "stages_p50_ms": {name: percentiles(values)["p50"] for name, values in stages.items()},
        "target_p50_ms": 800,
    }


@contextlib.asynccontextmanager
async def private_broker(directory: Path) -> AsyncIterator[broker.BrokerConfig]:
    """A generated Mosquitto for the bench, stopped on exit."""
    config = broker.generate(directory)
    process = broker.MosquittoProcess(config)
    process.start()
    try:
        yield config
    finally:
        process.stop()


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
