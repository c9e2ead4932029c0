"""Full duplex through the real stack: TARS hears the user over its own voice, never itself.

wake, stt, router, tts and the mic service run in this process, each on its own connection
to a real Mosquitto, with real engines (microWakeWord, Silero VAD + Smart Turn + Whisper
tiny.en, Piper, WebRTC AEC3). The mic's sound card is the simulated room
(`tars.bench.duplex_room`): the replies TTS sends to the satellite are played into it and
come back into the microphone 90 ms later, reverberated and a little louder than the user, with
background noise; the mic cancels that echo before publishing. Requests are typed, so the
only voice in the room besides TARS's is the user's, who never says the wake word here:

* TARS speaks a long reply with its echo in the mic: no wake event, no transcript;
* the user says "please stop" over it: the reply stops, and nothing else is said;
* the user asks "what time is it" over it: the reply stops and the time is said.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.broker import TestBroker
from tests.support.voice import spoken

from tars.audio.pcm import Int16Array
from tars.bench.duplex_room import RoomConfig
from tars.bench.duplex_stack import DuplexStack, Seen, duplex_stack, status
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.stt import TOPIC_STT_BARGE_IN, TOPIC_STT_FINAL, TOPIC_STT_REJECTED
from tars.contracts.tts import TOPIC_TTS_SAY
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.service import Service
from tars.runtime.settings import RuntimeSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.services.wake.interrupt import cancel_phrase
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]

STORY = " ".join(
    f"The little robot walked slowly to the {place} and looked at the {thing} for a while."
    for place, thing in (
        ("harbour", "boats"),
        ("old mill", "clouds"),
        ("lighthouse", "waves"),
        ("market", "lanterns"),
    )
)
"""The long reply (about 16 s of speech)."""
ROOM = RoomConfig(echo_delay_ms=90, echo_gain=1.3, rt60_s=0.3, direct_ratio=0.85, noise_rms=40.0)
"""A smart speaker's echo: 90 ms late, reverberated, and louder than the user (about +0.5 dB
over the user's voice, +2.3 dB over the speech it echoes)."""
TALK_OVER_ROOM = dataclasses.replace(ROOM, echo_gain=0.6)
"""The same room with the user nearer the microphone than the speaker: the echo about 6 dB
under the user's voice. Over the louder echo of `ROOM` the canceller sometimes swallows or
bends the first word ("Please start." for "Please stop."); `tars bench duplex` measures how
often, at echo levels up to 1.6 times what was played."""
FLOWING_S = 2.0


@contextlib.asynccontextmanager
async def _stack(
    broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    voice: PiperSynthesizer,
    data_dir: Path,
    room: RoomConfig = ROOM,
) -> AsyncIterator[DuplexStack]:
    services: dict[str, Service] = {
        "wake": WakeService(WakeSettings()),
        "stt": SttService(SttSettings(), transcriber=whisper, turn_model=turn_model),
        "router": RouterService(RouterSettings(online_announce=False, wake_ack_enabled=False)),
        "tts": TtsService(
            TtsSettings(sink="null", cache_enable=False), data_dir, synthesizer=voice
        ),
    }
    runtime = RuntimeSettings(data_dir=data_dir)
    async with duplex_stack(
        broker.settings, runtime, room, reply=STORY, prebuilt=services
    ) as stack:
        yield stack


def _heard(seen: Seen) -> bool:
    """Anything that shows TARS took its own echo for the user (the typed request aside)."""
    if seen.topic == TOPIC_STT_FINAL:
        return bool(seen.data.source != "text")
    return seen.topic in (TOPIC_WAKE_EVENT, TOPIC_STT_BARGE_IN, TOPIC_STT_REJECTED)


async def test_own_long_reply_is_not_heard(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    async with _stack(mqtt_broker, whisper, turn_model, piper_voice, tmp_path) as stack:
        seen = stack.seen
        since = seen.mark()
        reply_id = await stack.ask("tell me a long story")
        end = await stack.idle(reply_id)
        echo = stack.mic.echo
        assert echo is not None
        stats = echo.stats
        heard = seen.find(_heard, since)
        played_s = stack.room.speaker_s
    print(
        f"\n{played_s:.1f} s of reply played into the room; echo reduced by "
        f"{stats.erle_db():.1f} dB over {stats.far_active_frames} frames; heard: {heard}"
    )
    assert end.data.reason is None, "the reply played to its end"
    assert played_s > 10.0, "the reply was long and reached the room"
    assert stats.far_active_frames > 500, "the reference reached the canceller"
    assert heard == [], "TARS heard itself"


async def _barge_in(stack: DuplexStack, words: Int16Array) -> tuple[str, int]:
    """Start the long reply and say ``words`` over it once it is flowing."""
    reply_id = await stack.ask("tell me a long story")
    await stack.speaking(reply_id, FLOWING_S)
    since = stack.seen.mark()
    stack.room.say(words)
    return reply_id, since


async def test_stop_over_the_reply_stops_it(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    words = spoken(piper_voice, "Please stop.")
    async with _stack(
        mqtt_broker, whisper, turn_model, piper_voice, tmp_path, TALK_OVER_ROOM
    ) as stack:
        seen = stack.seen
        reply_id, since = await _barge_in(stack, words)
        try:
            barge = await seen.wait_for(lambda s: s.topic == TOPIC_STT_BARGE_IN, since)
            paused = await seen.wait_for(status("paused", reply_id), since)
            final = await seen.wait_for(lambda s: s.topic == TOPIC_STT_FINAL, since)
            stopped = await seen.wait_for(status("stopped", reply_id), since)
            handled = await seen.wait_for(
                lambda s: s.topic == TOPIC_CONVERSATION_TURN and s.data.id == final.data.utt_id,
                since,
            )
        finally:
            print(seen.summary())
        said = seen.find(lambda s: s.topic == TOPIC_TTS_SAY and s.data.utt_id != reply_id, since)
    print(
        f"\nheard {final.data.text!r} ({final.data.heard_in}); paused "
        f"{paused.at - barge.data.speech_start_ts:.2f} s after the speech began, stopped "
        f"{stopped.at - paused.at:.2f} s later"
    )
    assert cancel_phrase(final.data.text), final.data.text
    assert final.data.heard_in == "interrupt"
    assert handled.data.reply == ""
    assert said == [], "a stop says nothing"


async def test_question_over_the_reply_is_answered(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    words = spoken(piper_voice, "What time is it?")
    async with _stack(
        mqtt_broker, whisper, turn_model, piper_voice, tmp_path, TALK_OVER_ROOM
    ) as stack:
        seen = stack.seen
        reply_id, since = await _barge_in(stack, words)
        try:
            await seen.wait_for(status("paused", reply_id), since)
            final = await seen.wait_for(lambda s: s.topic == TOPIC_STT_FINAL, since)
            stopped = await seen.wait_for(status("stopped", reply_id), since)
            answer = await seen.wait_for(
                lambda s: s.topic == TOPIC_TTS_SAY and s.data.utt_id == final.data.utt_id, since
            )
            started = await seen.wait_for(status("speaking_start", final.data.utt_id), since)
            # The answer is heard in the room (the story was stopped, so this is the answer).
            await asyncio.wait_for(stack.room.speaker_played(1.0), 30.0)
        finally:
            print(seen.summary())
    print(f"\nheard {final.data.text!r}; answered {answer.data.text[:60]!r}")
    assert "time is it" in final.data.text.lower(), final.data.text
    assert final.data.heard_in == "interrupt"
    assert stopped.at <= started.at, "the story stops before the answer starts"
