"""Voice barge-in in stt: speech over a reply on an echo-cancelled satellite, no wake word."""

from __future__ import annotations

import asyncio

import numpy as np
from tests.unit.stt.test_stt_service import (
    FixedTranscriber,
    counter,
    make_service,
    on,
    speech,
    stt_running,
)

from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_bytes
from tars.contracts.stt import (
    TOPIC_STT_BARGE_IN,
    TOPIC_STT_FINAL,
    TOPIC_STT_REJECTED,
    VOICE_CAUSE,
)
from tars.contracts.tts import TOPIC_TTS_STATUS, TtsStatus
from tars.contracts.wake import TOPIC_WAKE_EVENT, WakeEvent
from tars.runtime.memory_bus import MemoryBus
from tars.services.stt.endpoint import SegmenterConfig, UtteranceSegmenter


async def send_cancelled(bus: MemoryBus, satellite: str, audio: Int16Array, start: float) -> None:
    """Frames as a duplex mic publishes them: echo-cancelled, over its own speaker."""
    for seq, offset in enumerate(range(0, audio.size, 320)):
        props = {
            "seq": str(seq),
            "ts": str(start + offset / SAMPLE_RATE),
            "aec": "webrtc",
            "speaker": "1",
        }
        frame = int16_to_bytes(audio[offset : offset + 320])
        await bus.publish_raw(f"audio/{satellite}/pcm", frame, properties=props)
        await asyncio.sleep(0)


async def _speaking(client: MemoryBus, satellite: str) -> None:
    status = TtsStatus(event="speaking_start", utt_id="r1", satellite=satellite)
    await client.publish(TOPIC_TTS_STATUS, status)


async def test_speech_over_the_reply_barges_in_and_is_transcribed() -> None:
    service, _ = make_service("What time is it?")
    async with stt_running(service) as (client, seen):
        client.subscribe(TOPIC_STT_BARGE_IN, seen)
        await _speaking(client, "den")
        await send_cancelled(client, "den", speech(1.5), 1000.0)
        barge = (await seen.wait_for(on(TOPIC_STT_BARGE_IN))).data
        # The wake service answers with an interrupt naming the cause; stt keeps its window.
        interrupt = WakeEvent(type="interrupt", cause=VOICE_CAUSE, ts=1000.5, satellite="den")
        await client.publish(TOPIC_WAKE_EVENT, interrupt)
        final = (await seen.wait_for(on(TOPIC_STT_FINAL))).data
    assert barge.satellite == "den"
    assert abs(barge.speech_start_ts - 1000.5) < 0.1
    assert final.text == "What time is it?"
    assert final.heard_in == "interrupt"
    assert final.utt_id == barge.utt_id


async def test_without_echo_cancelling_tts_still_mutes() -> None:
    service, _ = make_service("What time is it?")
    async with stt_running(service) as (client, seen):
        await _speaking(client, "den")
        audio = speech(1.5)
        for seq, offset in enumerate(range(0, audio.size, 320)):
            props = {"seq": str(seq), "ts": str(1000.0 + offset / SAMPLE_RATE)}
            frame = int16_to_bytes(audio[offset : offset + 320])
            await client.publish_raw("audio/den/pcm", frame, properties=props)
            await asyncio.sleep(0)
        await counter(service, "gated.muted_tts")
    assert seen.messages == []


async def test_a_backchannel_over_the_reply_is_rejected() -> None:
    service, _ = make_service("Yeah, right.")
    async with stt_running(service) as (client, seen):
        await _speaking(client, "den")
        await send_cancelled(client, "den", speech(1.0), 1000.0)
        rejected = (await seen.wait_for(on(TOPIC_STT_REJECTED))).data
    # The text filters may get there first ("Mm-hmm." is lexically rejected anyway).
    assert rejected.filter in ("backchannel", "lexical")
    assert rejected.heard_in == "interrupt"
    assert not seen.matching(on(TOPIC_STT_FINAL))


async def test_short_words_over_the_reply_that_are_not_a_command_are_rejected() -> None:
    service, _ = make_service("And a mom.")  # what Whisper made of "mm-hm" over the echo
    async with stt_running(service) as (client, seen):
        await _speaking(client, "den")
        await send_cancelled(client, "den", speech(0.55), 1000.0)
        rejected = (await seen.wait_for(on(TOPIC_STT_REJECTED))).data
    assert rejected.filter == "backchannel"
    assert "not a command" in rejected.reason


def test_double_talk_starts_speech_sooner_on_a_weaker_score() -> None:
    class Scores:
        window_samples = 512

        def feed(self, samples: Int16Array) -> list[float]:
            return [0.4 if samples.any() else 0.0]

        def reset(self) -> None:
            pass

    config = SegmenterConfig(noise_gate=None, residue_gate=None)
    voiced = np.full(512 * 4, 3000, dtype=np.int16)
    normal = UtteranceSegmenter(Scores(), config)
    assert normal.feed(voiced) == []  # 0.4 is under the normal threshold (0.5)
    over_speaker = UtteranceSegmenter(Scores(), config)
    events = over_speaker.feed(voiced, double_talk=True)
    assert [type(e).__name__ for e in events] == ["SpeechStarted"]


async def test_a_command_over_the_reply_passes_the_weak_evidence_filters() -> None:
    # Over the echo Whisper is unsure of what it heard; a command still gets through.
    for closed, expected in ((True, TOPIC_STT_FINAL), (False, TOPIC_STT_REJECTED)):
        unsure = FixedTranscriber("Zxcv stop.", scores=(0.3, 0.5, -1.0))
        service, _ = make_service(unsure, closed=closed)
        async with stt_running(service) as (client, seen):
            await _speaking(client, "den")
            await send_cancelled(client, "den", speech(1.0), 1000.0)
            message = await seen.wait_for(
                lambda m: m.topic in (TOPIC_STT_FINAL, TOPIC_STT_REJECTED)
            )
        assert message.topic == expected, message.data
