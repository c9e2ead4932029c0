"""Movement by voice: whole-word rules, no LLM needed, and a spoken stop that always wins."""

from __future__ import annotations

import pytest
from tests.unit.router.router_harness import router_running

from tars.contracts import llm, movement, tts
from tars.text.commands import Rules


@pytest.mark.parametrize(
    ("text", "action", "speed"),
    [
        ("Wave at me", "wave", 0.8),
        ("wave", "wave", 0.8),
        ("please bow", "bow", 0.8),
        ("take a bow", "bow", 0.8),
        ("could you turn left slowly", "turn_left", 0.4),
        ("Turn to the right.", "turn_right", 0.8),
        ("step forward", "step_forward", 0.8),
        ("walk backwards", "step_backward", 0.8),
        ("strike a pose", "pose", 0.8),
        ("laugh", "laugh", 0.8),
        ("quickly balance", "balance", 1.0),
        ("reset your position", "reset", 0.8),
    ],
)
def test_movement_phrases(text: str, action: str, speed: float) -> None:
    intent = Rules().match(text)
    assert intent is not None
    assert (intent.kind, intent.action, intent.speed) == ("move", action, speed)


@pytest.mark.parametrize(
    "text",
    [
        "I don't know",
        "how do birds wave their wings",
        "wave goodbye to your hopes",
        "tell me about the bow of a ship",
        "what makes you laugh",
        "turn left at the next street and then right",
        "now",
    ],
)
def test_ordinary_speech_never_moves_the_robot(text: str) -> None:
    intent = Rules().match(text)
    assert intent is None or intent.kind not in ("move", "move_stop")


@pytest.mark.parametrize("text", ["stop moving", "Emergency stop!", "freeze", "please halt"])
def test_spoken_emergency_stop(text: str) -> None:
    rules = Rules()
    assert rules.is_movement_stop(text)
    intent = rules.match(text)
    assert intent is not None
    assert intent.kind == "move_stop"


async def test_wave_by_voice_without_any_llm() -> None:
    async with router_running(llm_healthy=False) as (_, peer):
        await peer.wake()
        await peer.final("wave at me", utt_id="u1")
        command = await peer.wait_for(movement.TOPIC_MOVEMENT_COMMAND)
        assert (command.command, command.speed, command.satellite) == ("wave", 0.8, "local")
        said = await peer.wait_for(tts.TOPIC_TTS_SAY)
        assert said.text == "Waving."
        assert peer.of(llm.TOPIC_LLM_REQUEST) == []


async def test_spoken_stop_wins_even_without_a_wake_word() -> None:
    async with router_running() as (_, peer):
        await peer.final("stop moving")  # no wake word, no window
        stop = await peer.wait_for(movement.TOPIC_MOVEMENT_STOP)
        assert "stop moving" in (stop.reason or "")
        await peer.settle()
        assert peer.says() == []  # not addressed: stopped, but nothing said


async def test_spoken_stop_interrupts_the_reply_and_confirms() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.final("tell me a long story", utt_id="u1")
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST)
        await peer.wake()
        await peer.final("stop moving", utt_id="u2")
        await peer.wait_for(movement.TOPIC_MOVEMENT_STOP)
        await peer.wait_for(llm.TOPIC_LLM_CANCEL, lambda c: c.id == request.id)
        said = await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: s.utt_id == "u2")
        assert said.text == "Stopping."
