"""A whole spoken turn: wake word + request in, the spoken answer out on tts/audio/<satellite>."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.support.broker import TestBroker
from tests.support.voice import hear, hours_around, states_an_hour

from tars.bench.voice import VoiceRig, spoken_request
from tars.runtime.settings import RuntimeSettings
from tars.services.stt.whisper_engine import WhisperTranscriber

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.engine]


async def test_spoken_time_question_is_answered_aloud(
    mqtt_broker: TestBroker, whisper: WhisperTranscriber, tmp_path: Path
) -> None:
    runtime = RuntimeSettings(data_dir=tmp_path)
    before = dt.datetime.now()
    async with VoiceRig(mqtt_broker.config.url, runtime, satellite="e2e") as rig:
        turn = await rig.turn(spoken_request("what time is it"))
    heard = hear(whisper, turn.reply_audio, turn.rate)
    print(
        f"\nvoice turn: heard {turn.heard!r}, router said {turn.reply_text!r}, "
        f"reply audio heard as {heard!r}; voice-to-voice {turn.latency_ms:.0f} ms, "
        f"stages {turn.stages_ms}"
    )
    assert "time" in turn.heard.lower()
    assert turn.reply_audio.size > 0
    assert states_an_hour(heard, hours_around(before)), heard
