"""The stt service's gating, turn decisions, continuations and publishing, with fake engines."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from tests.support.collect import Collector

from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_bytes, rms, silence, tone
from tars.contracts.conversation import RouterState, router_state_topic
from tars.contracts.stt import (
    TOPIC_STT_CONTINUATION,
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    TOPIC_STT_REJECTED,
)
from tars.contracts.tts import TOPIC_TTS_STATUS, TtsStatus
from tars.contracts.wake import TOPIC_WAKE_EVENT, WakeEvent
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.runtime.settings import ConversationSettings
from tars.services.stt.endpoint import SegmenterConfig, UtteranceSegmenter
from tars.services.stt.service import SttService
from tars.services.stt.session import Gate, TimeMap, Window, cut_audio
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import Transcript


class LoudVad:
    """Speech = a 32 ms window louder than 1000 RMS."""

    window_samples = 512

    def feed(self, samples: Int16Array) -> list[float]:
        return [1.0 if rms(samples) > 1000 else 0.0]

    def reset(self) -> None:
        pass


class FixedTranscriber:
    """Returns ``text`` (or ``longer`` for audio longer than ``longer_after_s``)."""

    def __init__(
        self,
        text: str,
        *,
        longer: str = "",
        longer_after_s: float = 99.0,
        scores: tuple[float, float, float] = (0.9, 0.01, -0.1),
    ) -> None:
        self.text, self.longer, self.longer_after_s = text, longer, longer_after_s
        self.scores = scores
        self.calls: list[int] = []

    def transcribe(self, samples: Int16Array) -> Transcript:
        self.calls.append(samples.size)
        duration = samples.size / SAMPLE_RATE
        text = self.longer if duration > self.longer_after_s else self.text
        confidence, no_speech, logprob = self.scores
        return Transcript(text, confidence, no_speech, logprob, "en", duration, 0.01)


class FixedTurnModel:
    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.calls = 0

    def complete_probability(self, samples: Int16Array) -> float:
        self.calls += 1
        return self.probability


def test_time_map_and_cut() -> None:
    times = TimeMap()
    times.add(100.0, 320)
    times.add(100.02, 320)
    times.add(200.0, 320)  # a gap in capture
    assert times.wall(0.01) == pytest.approx(100.01)
    assert times.wall(0.05) == pytest.approx(200.01)
    audio = np.arange(16000, dtype=np.int16)
    assert cut_audio(audio, 10.0, 10.5, 0.25).size == 16000 - 4000
    assert cut_audio(audio, 10.0, None, 0.25).size == 16000


def _voiced(seconds: float) -> Int16Array:
    """A loud 200 Hz tone standing in for speech."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (3000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)


def _quiet(seconds: float) -> Int16Array:
    return np.full(round(seconds * SAMPLE_RATE), 3, dtype=np.int16)


def test_cut_skips_the_wake_word_tail_before_a_pause() -> None:
    # "okay nabu" ends at 1.0 s, detected at 1.08 s; the user pauses, then "stop" at 1.4 s.
    audio = np.concatenate([_voiced(1.0), _quiet(0.4), _voiced(0.5), _quiet(0.3)])
    kept = cut_audio(audio, 100.0, 101.08, 0.2)
    dropped_s = (audio.size - kept.size) / SAMPLE_RATE
    # The margin alone would keep from 0.88 s, the wake word's last 120 ms with it; the cut
    # goes to where the pause begins (the request's first sound may be as soft as silence).
    assert dropped_s == pytest.approx(1.0, abs=0.021)


def test_cut_keeps_the_margin_when_the_request_runs_on() -> None:
    # "okay nabu what time is it" in one breath: no pause to move the cut to.
    audio = np.concatenate([_voiced(2.5), _quiet(0.3)])
    assert cut_audio(audio, 100.0, 101.08, 0.2).size == audio.size - round(0.88 * SAMPLE_RATE)


def test_cut_ignores_a_pause_that_begins_after_the_wake_word_was_detected() -> None:
    # The request's first word ("what") runs past the detection; the pause after it is the
    # user's own and must not cut that word.
    audio = np.concatenate([_voiced(1.3), _quiet(0.3), _voiced(0.8), _quiet(0.3)])
    assert cut_audio(audio, 100.0, 101.08, 0.2).size == audio.size - round(0.88 * SAMPLE_RATE)


def test_cut_of_digital_silence_keeps_the_margin() -> None:
    audio = np.zeros(SAMPLE_RATE, dtype=np.int16)
    assert cut_audio(audio, 100.0, 100.5, 0.2).size == SAMPLE_RATE - round(0.3 * SAMPLE_RATE)


def test_gate_decisions() -> None:
    gate = Gate()
    assert gate.decide(0.0, 1.0).reason == "not_listening"
    gate.open(Window("wake", 8.0, 14.0, cut_ts=10.0))
    assert gate.decide(9.0, 10.1).reason == "wake_word_only"
    decision = gate.decide(9.0, 12.0)
    assert decision.accepted
    assert decision.cut_ts == 10.0
    assert gate.decide(10.5, 12.0).cut_ts is None  # started after the wake word
    assert not gate.decide(15.0, 16.0).accepted
    gate.tts_speaking = True
    assert gate.decide(15.0, 16.0).reason == "muted_tts"
    assert gate.decide(10.5, 12.0).accepted  # a barge-in/wake window still opens the mic
    gate.tts_speaking, gate.live = False, True
    assert gate.decide(15.0, 16.0).reason == "live"


@contextlib.asynccontextmanager
async def stt_running(service: SttService) -> AsyncIterator[tuple[MemoryBus, Collector]]:
    broker = MemoryBroker()
    client = MemoryBus("cli", broker)
    seen = Collector()
    for topic in (TOPIC_STT_FINAL, TOPIC_STT_REJECTED, TOPIC_STT_CONTINUATION):
        client.subscribe(topic, seen)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, MemoryBus("stt", broker), stop), name="test:stt")
    client_task = asyncio.create_task(client.run(), name="test:client")
    try:
        await client.wait_connected()
        await asyncio.wait_for(service._ready.wait(), 2)
        yield client, seen
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)


def make_service(
    transcriber: FixedTranscriber | str,
    *,
    live: bool = False,
    turn: float = 0.9,
    pause_ms: int = 0,
    closed: bool = False,
    **overrides: object,
) -> tuple[SttService, FixedTranscriber]:
    # Audio is sent faster than real time: a queue long enough that none is dropped.
    overrides.setdefault("queue_frames", 2000)
    settings = SttSettings(**overrides)  # type: ignore[arg-type]
    if isinstance(transcriber, str):
        transcriber = FixedTranscriber(transcriber)
    config = SegmenterConfig(noise_gate=None, pause_partial_ms=pause_ms)
    service = SttService(
        settings,
        conversation=ConversationSettings(live_mode=live),
        transcriber=transcriber,
        turn_model=FixedTurnModel(turn),
        segmenter_factory=lambda: UtteranceSegmenter(LoudVad(), config),
        closed_command=lambda text: closed,
    )
    return service, transcriber


async def send(bus: MemoryBus, satellite: str, audio: Int16Array, start: float) -> None:
    for seq, offset in enumerate(range(0, audio.size, 320)):
        frame = audio[offset : offset + 320]
        props = {"seq": str(seq), "ts": str(start + offset / SAMPLE_RATE)}
        await bus.publish_raw(f"audio/{satellite}/pcm", int16_to_bytes(frame), properties=props)
        await asyncio.sleep(0)


def speech(*seconds: float, gap_s: float = 0.0) -> Int16Array:
    """Silence, tone bursts of the given lengths ``gap_s`` apart, then trailing silence."""
    parts: list[Int16Array] = [silence(0.5)]
    for index, length in enumerate(seconds):
        if index:
            parts.append(silence(gap_s))
        parts.append(tone(length, 300.0, amplitude=8000.0))
    parts.append(silence(3.0))
    return np.concatenate(parts)


SPEECH = speech(1.5)


def on(topic: str, **fields: object) -> Callable[[Message], bool]:
    def matches(message: Message) -> bool:
        return message.topic == topic and all(
            getattr(message.data, key) == value for key, value in fields.items()
        )

    return matches


async def counter(service: SttService, name: str, at_least: int = 1) -> int:
    """Wait until the service has counted ``name`` (the proof that input was processed)."""
    for _ in range(500):
        value = service.bus.metrics.snapshot().counters.get(name, 0)
        if value >= at_least:
            return value
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{name} never reached {at_least}")


async def test_no_wake_no_final_then_wake_gives_final_without_wake_word() -> None:
    service, transcriber = make_service("Okay Nabu, turn on the kitchen lights.")
    async with stt_running(service) as (client, seen):
        await send(client, "kitchen", SPEECH, 1000.0)
        await counter(service, "gated.not_listening")
        assert seen.messages == []
        # The wake word ends 0.5 s into the speech; the event arrives after the audio.
        await send(client, "kitchen", SPEECH, 2000.0)
        await client.publish(
            TOPIC_WAKE_EVENT, WakeEvent(type="wake", ts=2001.0, satellite="kitchen")
        )
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert final.text == "turn on the kitchen lights."
    assert final.satellite == "kitchen"
    assert final.source == "voice"
    assert final.heard_in == "wake"
    assert final.continues is None
    assert final.speech_start_ts == pytest.approx(2001.0, abs=0.05)
    assert final.speech_end_ts == pytest.approx(2002.0, abs=0.1)
    # The audio handed to the recogniser starts shortly before the wake word's end.
    assert transcriber.calls[-1] < 1.5 * SAMPLE_RATE


async def test_live_mode_and_tts_mute() -> None:
    service, _ = make_service("Turn on the kitchen lights.", live=True)
    async with stt_running(service) as (client, seen):
        await client.publish(
            TOPIC_TTS_STATUS, TtsStatus(event="speaking_start", utt_id="r1", satellite="den")
        )
        await send(client, "den", SPEECH, 1000.0)
        await counter(service, "gated.muted_tts")  # muted while TTS speaks there
        await send(client, "hall", SPEECH, 1000.0)
        await seen.wait_for(on(TOPIC_STT_FINAL))
    assert [m.data.satellite for m in seen.messages] == ["hall"]


async def test_live_mode_switched_by_the_router_opens_the_gate() -> None:
    service, _ = make_service("Turn on the kitchen lights.")
    async with stt_running(service) as (client, seen):
        await send(client, "den", SPEECH, 1000.0)
        await counter(service, "gated.not_listening")
        await client.publish(
            router_state_topic("den"), RouterState(satellite="den", phase="idle", live_mode=True)
        )
        await send(client, "den", SPEECH, 1010.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert final.heard_in == "live"


async def test_wake_phrase_alone_is_counted_not_published() -> None:
    service, _ = make_service("Okay Nabu.", live=True)
    async with stt_running(service) as (client, seen):
        await send(client, "den", SPEECH, 1000.0)
        await counter(service, "wake_phrase_only")
    assert seen.messages == []


async def test_a_request_after_the_wake_word_may_have_unusual_words() -> None:
    # Whisper doubted a name ("Romi-O"): weak evidence, so the text gates apply, and only
    # two words in six are common ones. Right after a wake word that is a request.
    misheard = "Okay Nabu, who wrote Romi-O and Juliet?"
    weak = FixedTranscriber(misheard, scores=(0.3, 0.2, -0.9))
    service, _ = make_service(weak)
    async with stt_running(service) as (client, seen):
        await client.publish(TOPIC_WAKE_EVENT, WakeEvent(type="wake", ts=1000.5, satellite="den"))
        await send(client, "den", SPEECH, 1000.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert (final.text, final.heard_in) == ("who wrote Romi-O and Juliet?", "wake")
    # Heard with no wake word (live mode), the same words are judged as likely noise.
    unprompted = FixedTranscriber(misheard.removeprefix("Okay Nabu, "), scores=(0.3, 0.2, -0.9))
    service, _ = make_service(unprompted, live=True)
    async with stt_running(service) as (client, seen):
        await send(client, "den", SPEECH, 1000.0)
        rejected = (await seen.wait_for(on(TOPIC_STT_REJECTED))).data
    assert (rejected.filter, rejected.heard_in) == ("common_words", "live")


async def test_a_rejection_is_published_with_its_reason() -> None:
    weak = FixedTranscriber("Zxcv qwrt plmkn vbgh.", scores=(0.3, 0.5, -1.0))
    service, _ = make_service(weak, live=True)
    async with stt_running(service) as (client, seen):
        await send(client, "den", SPEECH, 1000.0)
        rejected = (await seen.wait_for(on(TOPIC_STT_REJECTED))).data
    assert rejected.filter == "common_words"
    assert "common-word ratio" in rejected.reason
    assert rejected.text == "Zxcv qwrt plmkn vbgh."
    assert rejected.heard_in == "live"
    assert rejected.satellite == "den"
    assert not seen.matching(on(TOPIC_STT_FINAL))


async def test_a_confident_unusual_request_passes_the_filters() -> None:
    text = (
        "Say the quick brown fox jumps over the lazy dog and runs all the way home across "
        "the wide green fields past the old mill."
    )
    confident = FixedTranscriber(text, scores=(0.8, 0.02, -0.25))
    service, _ = make_service(confident, live=True)
    async with stt_running(service) as (client, seen):
        await send(client, "den", speech(4.0), 1000.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert final.text == text


async def test_speech_right_after_a_final_continues_the_turn() -> None:
    # One request with a 0.8 s pause: the 0.6 s hangover ends it early, then the user goes on.
    transcriber = FixedTranscriber(
        "Remind me to water the plants.",
        longer="Remind me to water the plants on Sunday.",
        longer_after_s=2.5,
    )
    service, _ = make_service(transcriber, live=True, end_of_turn="fixed")
    async with stt_running(service) as (client, seen):
        await send(client, "den", speech(1.2, 0.8, gap_s=0.8), 1000.0)
        first = (await seen.wait_for(on(TOPIC_STT_FINAL, continues=None))).data
        continued = await seen.wait_for(on(TOPIC_STT_CONTINUATION))
        whole = (await seen.wait_for(on(TOPIC_STT_FINAL, continues=first.utt_id))).data
    assert first.text == "Remind me to water the plants."
    assert continued.data.utt_id == first.utt_id
    assert continued.data.gap_s == pytest.approx(0.8, abs=0.1)
    assert whole.text == "Remind me to water the plants on Sunday."
    assert whole.utt_id != first.utt_id
    assert whole.heard_in == "continuation"
    assert whole.speech_start_ts == pytest.approx(first.speech_start_ts)
    # The whole request was transcribed in one piece: both parts and the pause between.
    assert transcriber.calls[-1] > 2.5 * SAMPLE_RATE


async def test_speech_long_after_a_final_is_a_new_turn() -> None:
    transcriber = FixedTranscriber(
        "Turn on the kitchen lights.", longer="And the hall lights.", longer_after_s=1.6
    )
    service, _ = make_service(transcriber, live=True, end_of_turn="fixed")
    async with stt_running(service) as (client, seen):
        await send(client, "den", speech(1.0, 1.5, gap_s=2.0), 1000.0)
        await seen.wait_for(on(TOPIC_STT_FINAL), since=1)
    finals = seen.matching(on(TOPIC_STT_FINAL))
    assert [f.data.continues for f in finals] == [None, None]
    assert not seen.matching(on(TOPIC_STT_CONTINUATION))


async def test_a_pause_the_signals_call_incomplete_keeps_listening() -> None:
    # The turn model hears an unfinished voice and the words trail off: a 1.2 s pause, far
    # beyond the fixed 0.6 s hangover, stays inside one utterance.
    transcriber = FixedTranscriber(
        "Set a timer for", longer="Set a timer for ten minutes.", longer_after_s=2.0
    )
    service, model = make_service(transcriber, live=True, turn=0.1, pause_ms=64)
    async with stt_running(service) as (client, seen):
        await send(client, "den", speech(1.0, 0.8, gap_s=1.2), 1000.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert final.text == "Set a timer for ten minutes."
    assert final.speech_end_ts == pytest.approx(1000.5 + 1.0 + 1.2 + 0.8, abs=0.1)
    assert final.turn_complete == pytest.approx(0.1)
    assert service.bus.metrics.snapshot().counters.get("turn.incomplete") == 1
    assert len(seen.matching(on(TOPIC_STT_FINAL))) == 1


async def test_a_finished_command_ends_the_turn_at_its_pause() -> None:
    service, _ = make_service("What time is it?", live=True, turn=0.95, pause_ms=64, closed=True)
    async with stt_running(service) as (client, seen):
        await send(client, "den", SPEECH, 1000.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert final.turn_complete == pytest.approx(0.95)
    counters = service.bus.metrics.snapshot().counters
    assert counters.get("turn.complete") == 1
    assert counters.get("pause_transcript_reused") == 1


class FailingOnceVad(LoudVad):
    """Raises on its first window, as a broken native VAD would."""

    failures = 0

    def feed(self, samples: Int16Array) -> list[float]:
        if FailingOnceVad.failures == 0:
            FailingOnceVad.failures += 1
            raise RuntimeError("vad exploded")
        return super().feed(samples)


async def test_a_failing_stream_is_restarted_and_health_shows_it() -> None:
    config = SegmenterConfig(noise_gate=None, pause_partial_ms=0)
    service = SttService(
        SttSettings(queue_frames=2000),
        conversation=ConversationSettings(live_mode=True),
        transcriber=FixedTranscriber("Turn on the kitchen lights."),
        turn_model=FixedTurnModel(0.9),
        segmenter_factory=lambda: UtteranceSegmenter(FailingOnceVad(), config),
    )
    async with stt_running(service) as (client, seen):
        health = Collector()
        client.subscribe("system/health/stt", health)
        await send(client, "den", silence(0.2), 999.0)
        await counter(service, "workers.restarted")
        await send(client, "den", SPEECH, 1000.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
        restarted = await health.wait_for(lambda m: "restarted" in (m.data.event or ""))
    assert final.text == "Turn on the kitchen lights."
    assert restarted.data.ok
    assert "vad exploded" in restarted.data.event


async def test_an_open_request_waits_longer_than_a_thinking_pause() -> None:
    # Finished-sounding words and voice, but not a closed command: a 0.5 s pause (more than
    # the 0.15 s that ends a command) stays inside the request.
    transcriber = FixedTranscriber(
        "Remind me to water the plants.",
        longer="Remind me to water the plants on Sunday.",
        longer_after_s=1.8,
    )
    service, _ = make_service(transcriber, live=True, turn=0.95, pause_ms=64)
    async with stt_running(service) as (client, seen):
        partials = Collector()
        client.subscribe(TOPIC_STT_PARTIAL, partials)
        await send(client, "den", speech(1.2, 0.7, gap_s=0.5), 1000.0)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
        await partials.wait_for(lambda m: (m.data.text, m.data.turn) == (final.text, "open"))
    assert final.text == "Remind me to water the plants on Sunday."
    # Judged open at the thinking pause and again at the end.
    assert service.bus.metrics.snapshot().counters.get("turn.open") == 2
    assert len(seen.matching(on(TOPIC_STT_FINAL))) == 1
    # Each pause's partial says so: the router may start the LLM on it.
    pauses = [(p.data.text, p.data.turn) for p in partials.matching(lambda m: True)]
    assert ("Remind me to water the plants.", "open") in pauses
