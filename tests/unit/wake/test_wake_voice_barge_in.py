"""Voice barge-in in the barge-in machine: speech over a reply without the wake word."""

from __future__ import annotations

from tars.contracts.stt import VOICE_CAUSE
from tars.services.wake.detector import Detection
from tars.services.wake.interrupt import (
    BargeIn,
    BargeInConfig,
    EmitCancelled,
    EmitInterrupt,
    EmitResume,
    NewTurn,
    OpenMic,
    Phase,
    TtsPause,
    TtsResume,
    TtsStop,
)

CONFIG = BargeInConfig(
    interrupt_window_s=3.0, speech_grace_s=2.0, max_window_s=10.0, idle_timeout_s=3.0
)
DETECTION = Detection("okay_nabu", 0.97, 0.85, 1200.0, 4.2)


def speaking() -> BargeIn:
    machine = BargeIn(CONFIG)
    assert machine.on_tts_status("speaking", "r1", 0.0) == []
    return machine


def test_voice_over_a_reply_pauses_it_like_a_wake_word() -> None:
    machine = speaking()
    actions = machine.on_voice(1.0)
    assert actions == [
        EmitInterrupt("r1", None, cause=VOICE_CAUSE),
        TtsPause("r1", reason="voice_barge_in"),
        OpenMic(3.0),
    ]
    assert machine.phase is Phase.INTERRUPTED


def test_voice_with_nothing_playing_does_nothing() -> None:
    machine = BargeIn(CONFIG)
    assert machine.on_voice(1.0) == []
    assert machine.phase is Phase.IDLE


def test_rejected_speech_resumes_at_once() -> None:
    machine = speaking()
    machine.on_voice(1.0)
    assert machine.on_rejected(1.8) == [TtsResume("r1"), EmitResume("r1", cause="not_a_turn")]
    assert machine.phase is Phase.IDLE
    assert machine.next_deadline() is None


def test_stop_and_question_end_the_reply() -> None:
    machine = speaking()
    machine.on_voice(1.0)
    assert machine.on_transcript("Please stop.", 2.0) == [
        TtsStop("r1"),
        EmitCancelled("r1", "Please stop."),
    ]
    machine = speaking()
    machine.on_voice(1.0)
    assert machine.on_transcript("What time is it?", 2.0) == [
        TtsStop("r1"),
        NewTurn("r1", "What time is it?"),
    ]


def test_wake_word_after_voice_becomes_a_wake_interrupt() -> None:
    machine = speaking()
    machine.on_voice(1.0)
    actions = machine.on_detection(1.5, DETECTION)
    assert actions == [EmitInterrupt("r1", DETECTION), OpenMic(3.0)]
    # From now on a rejection is not a backchannel: the window runs its course.
    assert machine.on_rejected(2.0) == []
    assert machine.phase is Phase.INTERRUPTED
    assert machine.on_tick(10.0) == [TtsResume("r1"), EmitResume("r1")]


def test_rejection_after_a_wake_word_interrupt_waits_for_the_window() -> None:
    machine = speaking()
    machine.on_detection(1.0, DETECTION)
    assert machine.on_rejected(1.5) == []
    assert machine.phase is Phase.INTERRUPTED


def test_voice_during_an_open_interrupt_extends_it() -> None:
    machine = speaking()
    machine.on_voice(1.0)
    before = machine.next_deadline()
    assert machine.on_voice(3.5) == []
    after = machine.next_deadline()
    assert before is not None
    assert after is not None
    assert after > before
