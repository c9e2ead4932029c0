"""A whole spoken turn: wake word + request in, the spoken answer out on tts/audio/<satellite>."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.broker import TestBroker
from tests.support.voice import FIXED_HOUR, fixed_clock, hear, states_an_hour

from tars.bench.voice import VoiceRig, spoken_request
from tars.runtime.settings import ConversationSettings, RuntimeSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings
from tars.services.stt.whisper_engine import WhisperTranscriber

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.engine]


async def test_spoken_time_question_is_answered_aloud(
    mqtt_broker: TestBroker, whisper: WhisperTranscriber, tmp_path: Path
) -> None:
    runtime = RuntimeSettings(data_dir=tmp_path)
    router = RouterService(
        RouterSettings(), conversation=ConversationSettings(), wallclock=fixed_clock
    )
    async with VoiceRig(
        mqtt_broker.config.url, runtime, satellite="e2e", prebuilt={"router": router}
    ) as rig:
        turn = await rig.turn(spoken_request("what time is it"))
    heard = hear(whisper, turn.reply_audio, turn.rate)
    print(
        f"\nvoice turn: heard {turn.heard!r}, router said {turn.reply_text!r}, "
        f"reply audio heard as {heard!r}; voice-to-voice {turn.latency_ms:.0f} ms, "
        f"stages {turn.stages_ms}"
    )
    assert "time" in turn.heard.lower()
    assert turn.reply_text.startswith("It is 9:30"), turn.reply_text
    assert states_an_hour(heard, {FIXED_HOUR}), heard
