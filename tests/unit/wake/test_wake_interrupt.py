"""Barge-in state machine: every path, and the never-paused-for-ever invariant."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from tars.services.wake.detector import Detection
from tars.services.wake.interrupt import (
    Action,
    BargeIn,
    BargeInConfig,
    EmitCancelled,
    EmitInterrupt,
    EmitResume,
    EmitTimeout,
    EmitWake,
    NewTurn,
    OpenMic,
    Phase,
    TtsPause,
    TtsResume,
    TtsStop,
    cancel_phrase,
)

CONFIG = BargeInConfig(
    interrupt_window_s=3.0, speech_grace_s=2.0, max_window_s=10.0, idle_timeout_s=3.0
)
DETECTION = Detection("okay_nabu", 0.97, 0.85, 1200.0, 4.2)


def phase(machine: BargeIn) -> Phase:
    """Read the phase through a call, so mypy does not keep a narrowed literal across steps."""
    return machine.phase


def speaking(utt: str = "u1", now: float = 0.0) -> BargeIn:
    machine = BargeIn(CONFIG)
    assert machine.on_tts_status("speaking", utt, now) == []
    return machine


def interrupted(now: float = 1.0) -> BargeIn:
    machine = speaking()
    machine.on_detection(now, DETECTION)
    return machine


def test_detection_while_idle_wakes_and_times_out_in_silence() -> None:
    machine = BargeIn(CONFIG)
    assert machine.on_detection(10.0, DETECTION) == [EmitWake(DETECTION), OpenMic(3.0)]
    assert phase(machine) is Phase.LISTENING
    assert machine.next_deadline() == 13.0
    assert machine.on_tick(12.99) == []
    assert machine.on_tick(13.0) == [EmitTimeout("silence")]
    assert phase(machine) is Phase.IDLE
    assert machine.next_deadline() is None


def test_transcript_after_wake_ends_listening_without_timeout() -> None:
    machine = BargeIn(CONFIG)
    machine.on_detection(0.0)
    assert machine.on_transcript("what time is it", 1.5) == []
    assert phase(machine) is Phase.IDLE
    assert machine.on_tick(100.0) == []


def test_speech_after_wake_extends_listening() -> None:
    machine = BargeIn(CONFIG)
    machine.on_detection(0.0)
    machine.on_speech(2.5)
    assert machine.next_deadline() == 4.5
    assert machine.on_tick(4.0) == []
    assert machine.on_tick(4.5) == [EmitTimeout()]


def test_reply_starting_ends_listening() -> None:
    machine = BargeIn(CONFIG)
    machine.on_detection(0.0)
    assert machine.on_tts_status("speaking", "u9", 1.0) == []
    assert phase(machine) is Phase.IDLE
    assert machine.next_deadline() is None


def test_detection_while_speaking_pauses_and_resumes_after_window() -> None:
    machine = speaking("u1")
    actions = machine.on_detection(5.0, DETECTION)
    assert actions == [EmitInterrupt("u1", DETECTION), TtsPause("u1"), OpenMic(3.0)]
    assert phase(machine) is Phase.INTERRUPTED
    assert machine.paused_id == "u1"
    assert machine.on_tick(7.9) == []
    assert machine.on_tick(8.0) == [TtsResume("u1"), EmitResume("u1")]
    assert phase(machine) is Phase.IDLE
    assert machine.paused_id is None


def test_detection_while_tts_reports_paused_is_a_barge_in_too() -> None:
    machine = BargeIn(CONFIG)
    machine.on_tts_status("paused", "u1", 0.0)
    assert machine.on_detection(1.0)[:2] == [EmitInterrupt("u1"), TtsPause("u1")]


@pytest.mark.parametrize("text", ["Stop.", "never mind", "Cancel that!", "please stop it"])
def test_cancel_phrase_during_interrupt_stops_and_cancels(text: str) -> None:
    machine = interrupted()
    assert machine.on_transcript(text, 2.0) == [TtsStop("u1"), EmitCancelled("u1", text)]
    assert phase(machine) is Phase.IDLE
    assert machine.on_tick(100.0) == []


def test_other_speech_during_interrupt_stops_and_starts_a_new_turn() -> None:
    machine = interrupted()
    text = "what's the weather tomorrow"
    assert machine.on_transcript(text, 2.0) == [TtsStop("u1"), NewTurn("u1", text)]
    assert phase(machine) is Phase.IDLE
    assert machine.on_tick(100.0) == []


def test_empty_transcript_keeps_the_window_then_resumes() -> None:
    machine = interrupted(now=1.0)
    assert machine.on_transcript(" ... ", 2.0) == []
    assert phase(machine) is Phase.INTERRUPTED
    assert machine.on_tick(4.0) == [TtsResume("u1"), EmitResume("u1")]


def test_speech_extends_the_window_up_to_the_cap() -> None:
    machine = interrupted(now=0.0)
    machine.on_speech(2.5)
    assert machine.next_deadline() == 4.5
    for now in (4.0, 5.5, 7.0, 8.5, 9.5):
        assert machine.on_speech(now) == []
    assert machine.next_deadline() == 10.0  # capped at max_window_s after the barge-in
    assert machine.on_tick(10.0) == [TtsResume("u1"), EmitResume("u1")]


def test_late_transcript_after_expiry_sees_the_resume_first() -> None:
    machine = interrupted(now=0.0)
    actions = machine.on_transcript("stop", 3.5)  # nobody ticked at 3.0
    assert actions == [TtsResume("u1"), EmitResume("u1")]
    assert phase(machine) is Phase.IDLE


def test_second_detection_during_interrupt_extends_without_second_pause() -> None:
    machine = interrupted(now=0.0)
    assert machine.on_detection(2.0) == [OpenMic(3.0)]
    assert machine.next_deadline() == 5.0


def test_stale_speaking_report_for_paused_reply_keeps_the_window() -> None:
    machine = interrupted(now=0.0)
    assert machine.on_tts_status("speaking", "u1", 0.1) == []
    assert phase(machine) is Phase.INTERRUPTED
    assert machine.on_tick(3.0) == [TtsResume("u1"), EmitResume("u1")]


def test_paused_reply_ending_elsewhere_closes_the_interrupt() -> None:
    machine = interrupted(now=0.0)
    assert machine.on_tts_status("idle", "u1", 1.0) == []
    assert phase(machine) is Phase.IDLE
    assert machine.next_deadline() is None


def test_another_reply_starting_stops_the_paused_one() -> None:
    machine = interrupted(now=0.0)
    assert machine.on_tts_status("speaking", "u2", 1.0) == [TtsStop("u1")]
    assert phase(machine) is Phase.IDLE


def test_config_rejects_inconsistent_windows() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        BargeInConfig(interrupt_window_s=0.0)
    with pytest.raises(ValueError, match="max_window_s"):
        BargeInConfig(interrupt_window_s=5.0, max_window_s=4.0)


@pytest.mark.parametrize(
    "text",
    [
        "stop",
        "Stop!",
        "STOP IT.",
        "stop that",
        "cancel",
        "Cancel, please.",
        "cancel it",
        "Never mind.",
        "Never-mind",
        "nevermind",
        "shut up",
        "Be quiet!",
        "okay stop",
        "stop, stop",
        "please just stop it now",
        "Okay Nabu, cancel that.",
    ],
)
def test_cancel_phrases_match(text: str) -> None:
    assert cancel_phrase(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "please",
        "stop the music",
        "don't stop",
        "how do I cancel my order",
        "stopwatch",
        "what time is it",
        "never mind the weather, tell me a joke",
        "bus stop",
    ],
)
def test_other_text_is_not_a_cancel_phrase(text: str) -> None:
    assert not cancel_phrase(text)


def test_cancel_phrases_are_configurable() -> None:
    assert cancel_phrase("abort mission", ("abort mission",))
    assert not cancel_phrase("stop", ("abort mission",))


# --- the invariant, over every short input sequence and many long random ones -------------

Step = Callable[[BargeIn, float], list[Action]]
STEPS: dict[str, tuple[float, Step]] = {
    "speak-u1": (0.1, lambda m, t: m.on_tts_status("speaking", "u1", t)),
    "speak-u2": (0.1, lambda m, t: m.on_tts_status("speaking", "u2", t)),
    "paused-u1": (0.1, lambda m, t: m.on_tts_status("paused", "u1", t)),
    "idle-u1": (0.1, lambda m, t: m.on_tts_status("idle", "u1", t)),
    "idle-none": (0.1, lambda m, t: m.on_tts_status("idle", None, t)),
    "detect": (0.3, lambda m, t: m.on_detection(t)),
    "speech": (0.5, lambda m, t: m.on_speech(t)),
    "cancel": (0.4, lambda m, t: m.on_transcript("stop", t)),
    "request": (0.4, lambda m, t: m.on_transcript("what time is it", t)),
    "empty": (0.4, lambda m, t: m.on_transcript("", t)),
    "wait-1s": (1.0, lambda m, t: m.on_tick(t)),
    "wait-4s": (4.0, lambda m, t: m.on_tick(t)),
}


def run_and_check(names: tuple[str, ...]) -> None:
    """Run a sequence, then let time run out: every pause must have been answered."""
    machine = BargeIn(CONFIG)
    now = 0.0
    outstanding: set[str | None] = set()
    interrupts = 0
    endings = 0
    for name in names:
        step_s, step = STEPS[name]
        now += step_s
        actions = step(machine, now)
        if name == "idle-u1":  # TTS itself says the reply ended: nothing of it is paused
            outstanding.discard("u1")
        elif name == "idle-none":
            outstanding.clear()
        for action in actions:
            if isinstance(action, TtsPause):
                outstanding.add(action.tts_id)
            elif isinstance(action, TtsResume | TtsStop):
                outstanding.discard(action.tts_id)
            if isinstance(action, EmitInterrupt):
                interrupts += 1
            if isinstance(action, EmitResume | EmitCancelled | NewTurn):
                endings += 1
        deadline = machine.next_deadline()
        assert (phase(machine) is Phase.IDLE) == (deadline is None), names
        if outstanding:
            assert phase(machine) is Phase.INTERRUPTED, names
            assert deadline is not None, names
            assert deadline <= now + CONFIG.max_window_s, names
    final = machine.on_tick(now + CONFIG.max_window_s)
    for action in final:
        if isinstance(action, TtsResume | TtsStop):
            outstanding.discard(action.tts_id)
        if isinstance(action, EmitResume):
            endings += 1
    assert not outstanding, names
    assert phase(machine) is Phase.IDLE, names
    assert machine.next_deadline() is None, names
    assert endings <= interrupts, names


def test_no_short_sequence_leaves_tts_paused() -> None:
    count = 0
    for length in range(1, 5):
        for names in itertools.product(STEPS, repeat=length):
            run_and_check(names)
            count += 1
    print(f"checked {count} sequences")


def test_no_long_random_sequence_leaves_tts_paused() -> None:
    generator = random.Random(1234)
    alphabet = list(STEPS)
    for _ in range(3000):
        run_and_check(tuple(generator.choices(alphabet, k=generator.randint(5, 30))))
