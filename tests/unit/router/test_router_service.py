"""The router service on the in-memory bus: gating, rules, streaming, errors, barge-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.unit.router.router_harness import Peer, router_running

from tars.contracts import conversation, llm, tts, wake
from tars.contracts.health import HealthPing, health_topic
from tars.contracts.stt import PartialTranscript

TURN = conversation.TOPIC_CONVERSATION_TURN
STATE = "router/state/"


def _with_id(wanted: str) -> Callable[[Any], bool]:
    return lambda data: bool(data.id == wanted)


async def _request(peer: Peer, satellite: str = "local") -> llm.LLMRequest:
    request: llm.LLMRequest = await peer.wait_for(
        llm.TOPIC_LLM_REQUEST, lambda r: r.satellite == satellite
    )
    return request


async def test_speech_without_a_wake_word_is_ignored() -> None:
    async with router_running() as (_, peer):
        await peer.final("what time is it")
        await peer.final("say ok", source="text", satellite="cli")
        await peer.wait_for(tts.TOPIC_TTS_SAY)
        assert [s.text for s in peer.says()] == ["ok"]


async def test_time_rule_answers_after_the_wake_word_without_the_llm() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.final("what time is it", utt_id="u1")
        turn = await peer.wait_for(TURN)
        assert [s.text for s in peer.says("u1")] == ["It is 3:15 PM."]
        assert peer.says("u1")[0].last is True
        assert (turn.route, turn.reply, turn.id) == ("rule", "It is 3:15 PM.", "u1")
        assert "stt_to_router" in turn.timings_ms
        assert peer.of(llm.TOPIC_LLM_REQUEST) == []


async def test_wake_phrase_in_the_transcript_addresses_tars() -> None:
    async with router_running() as (_, peer):
        await peer.final("Okay, Nabu. Say hello Sam", utt_id="u1")
        turn = await peer.wait_for(TURN)
        assert turn.reply == "hello Sam"
        assert turn.user_text == "Say hello Sam"


async def test_snow_goes_to_the_llm() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars, hey, I don't know what snow is", utt_id="u1")
        request = await _request(peer)
        assert request.text == "hey, I don't know what snow is"
        assert request.stream is True
        assert peer.says() == []


async def test_stream_is_spoken_sentence_by_sentence_and_reconciled() -> None:
    async with router_running() as (_, peer):
        await peer.final("tell me about mars", source="text", satellite="cli", utt_id="q1")
        request = await _request(peer, "cli")
        await peer.delta(request.id, "Mars is red. It ")
        first = await peer.wait_for(tts.TOPIC_TTS_SAY)
        assert (first.text, first.utt_id, first.satellite, first.last) == (
            "Mars is red.",
            "q1",
            "cli",
            False,
        )
        await peer.delta(request.id, "has two moons")
        await peer.settle()
        await peer.response(request.id, reply="Mars is red. It has two moons, Phobos and Deimos.")
        turn = await peer.wait_for(TURN)
        await peer.delta(request.id, ", Phobos and Deimos.", done=True)  # late: ignored
        await peer.settle()
        says = peer.says("q1")
        assert [s.text for s in says] == ["Mars is red.", "It has two moons, Phobos and Deimos."]
        assert [s.last for s in says] == [False, True]
        assert turn.reply == "Mars is red. It has two moons, Phobos and Deimos."
        assert turn.route == "llm"
        assert "router_to_llm_first_delta" in turn.timings_ms
        assert "router_to_first_sentence" in turn.timings_ms


async def test_a_long_first_clause_is_spoken_before_its_sentence_ends() -> None:
    async with router_running() as (_, peer):
        await peer.final("what is the capital", source="text", satellite="cli", utt_id="q1")
        request = await _request(peer, "cli")
        await peer.delta(request.id, "Well, that")  # one word before the comma: too short
        await peer.settle()
        assert peer.says("q1") == []
        await peer.delta(request.id, " is easy, as you")
        first = await peer.wait_for(tts.TOPIC_TTS_SAY)
        assert (first.text, first.last) == ("Well, that is easy,", False)
        await peer.delta(request.id, " know, it is Paris, France. Bye, friend, and")
        await peer.delta(request.id, " see you.", done=True)
        await peer.wait_for(TURN)
        says = peer.says("q1")
    # Only the first piece ends at a comma; later ones are whole sentences.
    assert [(s.text, s.last) for s in says] == [
        ("Well, that is easy,", False),
        ("as you know, it is Paris, France.", False),
        ("Bye, friend, and see you.", True),
    ]


async def test_done_marker_speaks_the_rest_and_response_adds_nothing() -> None:
    async with router_running() as (_, peer):
        await peer.final("hi tars what is up", source="text", satellite="cli", utt_id="q1")
        request = await _request(peer, "cli")
        await peer.delta(request.id, "Not much. You?")
        await peer.delta(request.id, None, done=True)
        await peer.wait_for(TURN)
        await peer.response(request.id, reply="Not much. You?")
        await peer.settle()
        assert [(s.text, s.last) for s in peer.says("q1")] == [
            ("Not much.", False),
            ("You?", True),
        ]


async def test_history_holds_both_sides_and_is_bounded() -> None:
    async with router_running(history_max_messages=4) as (_, peer):
        for index in range(3):
            await peer.final(
                f"question {index}", source="text", satellite="cli", utt_id=f"q{index}"
            )
            request = await peer.wait_for(llm.TOPIC_LLM_REQUEST, _with_id(f"q{index}"))
            await peer.response(request.id, reply=f"Answer {index}.")
            await peer.wait_for(TURN, _with_id(f"q{index}"))
        last = peer.of(llm.TOPIC_LLM_REQUEST)[-1]
        assert [(m.role, m.content) for m in last.conversation_history] == [
            ("user", "question 0"),
            ("assistant", "Answer 0."),
            ("user", "question 1"),
            ("assistant", "Answer 1."),
        ]
        assert peer.of(llm.TOPIC_LLM_REQUEST)[0].conversation_history is None


async def test_llm_error_is_spoken_as_an_apology() -> None:
    async with router_running() as (router, peer):
        await peer.final("explain gravity", source="text", satellite="cli", utt_id="q1")
        request = await _request(peer, "cli")
        await peer.response(request.id, error="connection refused")
        turn = await peer.wait_for(TURN)
        assert [s.text for s in peer.says("q1")] == [router.settings.apology_text]
        assert (turn.route, turn.reply) == ("error", router.settings.apology_text)


async def test_llm_silence_times_out_into_an_apology_and_a_cancel() -> None:
    async with router_running(llm_timeout_s=0.05) as (router, peer):
        await peer.final("explain gravity", source="text", satellite="cli", utt_id="q1")
        turn = await peer.wait_for(TURN)
        assert turn.route == "error"
        assert [s.text for s in peer.says("q1")] == [router.settings.apology_text]
        assert [c.id for c in peer.of(llm.TOPIC_LLM_CANCEL)] == ["q1"]


async def test_barge_in_waits_for_what_follows_then_a_new_question_replaces_the_reply() -> None:
    async with router_running() as (_, peer):
        await peer.wake("kitchen")
        await peer.final("tell me a long story", satellite="kitchen", utt_id="q1")
        request = await _request(peer, "kitchen")
        await peer.delta(request.id, "Once upon a time. There ")
        await peer.wait_for(tts.TOPIC_TTS_SAY)
        # The wake word over the reply only opens the window (the wake service paused TTS).
        await peer.wake("kitchen", "interrupt")
        await peer.final("what time is it", satellite="kitchen", utt_id="q2")
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
        control = await peer.wait_for(tts.TOPIC_TTS_CONTROL)
        turn = await peer.wait_for(TURN, lambda t: t.id == "q1")
        answer = await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: s.utt_id == "q2")
        await peer.delta(request.id, "was a dragon. It ")
        await peer.response(request.id, reply="Once upon a time. There was a dragon.")
        await peer.settle()
        assert cancel.id == "q1"
        assert (control.action, control.id, control.satellite) == ("stop", "q1", "kitchen")
        assert [s.text for s in peer.says("q1")] == ["Once upon a time."]
        assert turn.interrupted is True
        assert turn.reply == "Once upon a time."
        assert answer.text.startswith("It is")
        assert "interrupted" in [s.phase for s in peer.of(STATE + "kitchen")]


async def test_a_wake_word_alone_over_the_reply_does_not_cut_it() -> None:
    async with router_running() as (_, peer):
        await peer.wake("kitchen")
        await peer.final("tell me a long story", satellite="kitchen", utt_id="q1")
        request = await _request(peer, "kitchen")
        await peer.delta(request.id, "Once upon a time. There ")
        await peer.wait_for(tts.TOPIC_TTS_SAY)
        await peer.wake("kitchen", "interrupt")
        await peer.wake("kitchen", "resume")
        await peer.delta(request.id, "was a dragon. It slept.", done=True)
        second = await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: "dragon" in s.text)
        await peer.settle()
        assert second.utt_id == "q1"
        assert peer.of(llm.TOPIC_LLM_CANCEL) == []
        assert peer.of(tts.TOPIC_TTS_CONTROL) == []


async def test_a_cancel_about_a_replaced_reply_leaves_the_new_one_alone() -> None:
    async with router_running(live_mode=True) as (_, peer):
        await peer.final("tell me a long story", utt_id="q1")
        await _request(peer)
        await peer.final("what time is it", utt_id="q2")
        await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: s.utt_id == "q2")
        cancels = len(peer.of(llm.TOPIC_LLM_CANCEL))
        await peer.bus.publish(
            wake.TOPIC_WAKE_EVENT,
            wake.WakeEvent(type="cancelled", cause="new_turn", tts_id="q1", satellite="local"),
        )
        # A later question is answered: the cancel before it was handled, and changed nothing.
        await peer.final("what's the date", utt_id="q3")
        await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: s.utt_id == "q3")
        assert len(peer.of(llm.TOPIC_LLM_CANCEL)) == cancels
        assert [c.id for c in peer.of(tts.TOPIC_TTS_CONTROL)] == ["q1"]


async def test_stop_phrase_cancels_a_reply_in_progress() -> None:
    async with router_running(live_mode=True) as (_, peer):
        await peer.final("tell me a long story", utt_id="q1")
        await _request(peer)
        await peer.final("stop", utt_id="u2")
        await peer.wait_for(llm.TOPIC_LLM_CANCEL)
        await peer.wait_for(STATE + "local", lambda s: s.phase == "idle")
        stopped = await peer.wait_for(TURN, lambda t: t.id == "q1")
        stop_turn = await peer.wait_for(TURN, lambda t: t.id == "u2")
        assert stopped.interrupted
        assert (stop_turn.route, stop_turn.reply) == ("rule", "")
        assert peer.says() == []
        assert len(peer.of(llm.TOPIC_LLM_REQUEST)) == 1


async def test_two_satellites_hold_independent_conversations() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars what is a star", satellite="kitchen", utt_id="k1")
        await peer.final("hey tars what is a planet", satellite="office", utt_id="o1")
        kitchen, office = await _request(peer, "kitchen"), await _request(peer, "office")
        await peer.delta(office.id, "A planet orbits a star. ")
        await peer.delta(kitchen.id, "A star is a sun. ")
        await peer.response(kitchen.id, reply="A star is a sun.")
        await peer.response(office.id, reply="A planet orbits a star.")
        k_turn = await peer.wait_for(TURN, lambda t: t.satellite == "kitchen")
        o_turn = await peer.wait_for(TURN, lambda t: t.satellite == "office")
        assert k_turn.reply == "A star is a sun."
        assert o_turn.reply == "A planet orbits a star."
        assert {s.satellite for s in peer.says("k1")} == {"kitchen"}
        assert {s.satellite for s in peer.says("o1")} == {"office"}
        await peer.final("and another", satellite="kitchen", source="text", utt_id="k2")
        follow = await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "k2")
        assert [m.content for m in follow.conversation_history] == [
            "what is a star",
            "A star is a sun.",
        ]


async def test_speaking_end_opens_a_follow_up_window() -> None:
    async with router_running(followup_window_s=5.0) as (_, peer):
        await peer.bus.publish(health_topic("tts"), HealthPing(ok=True))  # TTS reports playback
        await peer.wake()
        await peer.final("say one", utt_id="u1")
        await peer.wait_for(TURN)
        await peer.final("say ignored while speaking", utt_id="u2")  # echo: not addressed
        await peer.settle()
        await peer.tts_status("speaking_end", "u1")
        await peer.wait_for(STATE + "local", lambda s: s.phase == "listening" and s.utt_id is None)
        await peer.final("say two", utt_id="u3")
        await peer.wait_for(TURN, lambda t: t.id == "u3")
        assert [s.text for s in peer.says()] == ["one", "two"]


async def test_partials_keep_the_wake_window_open() -> None:
    async with router_running(wake_window_s=0.15, speech_extend_s=0.3) as (_, peer):
        await peer.wake()
        for _ in range(3):
            await asyncio.sleep(0.1)
            await peer.bus.publish("stt/partial", PartialTranscript(text="say", satellite="local"))
        await peer.final("say still here", utt_id="u1")
        turn = await peer.wait_for(TURN)
        assert turn.reply == "still here"


async def test_wake_ack_is_skipped_when_speech_follows_at_once() -> None:
    async with router_running(wake_ack_enabled=True, wake_ack_delay_s=0.2) as (_, peer):
        await peer.wake()
        await peer.final("say quick", utt_id="u1")
        await peer.wait_for(TURN)
        await asyncio.sleep(0.3)
        assert [s.wake_ack for s in peer.says()] == [None]
        await peer.wake()
        ack = await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: s.wake_ack is True)
        assert ack.text in ("Hmm?", "Huh?", "Yes?")


async def test_timer_fires_on_its_satellite_and_can_be_cancelled() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars set a timer for 1 second", satellite="office", utt_id="t1")
        await peer.final("hey tars set a timer for 2 seconds", satellite="den", utt_id="t2")
        ack = await peer.wait_for(TURN, lambda t: t.id == "t1")
        assert ack.reply == "Timer set for one second."
        await peer.final("hey tars cancel the timer", satellite="den", utt_id="t3")
        cancelled = await peer.wait_for(TURN, lambda t: t.id == "t3")
        assert cancelled.reply == "Timer cancelled."
        done = await peer.wait_for(tts.TOPIC_TTS_SAY, lambda s: "done" in s.text, within_s=3)
        assert (done.text, done.satellite) == ("Your one second timer is done.", "office")
        await asyncio.sleep(1.2)
        assert not [s for s in peer.says() if s.satellite == "den" and "done" in s.text]


async def test_online_announcement_needs_current_health_of_tts_and_stt() -> None:
    async with router_running(online_announce=True) as (_, peer):
        await peer.bus.publish(health_topic("tts"), HealthPing(ok=True))
        await peer.bus.publish(health_topic("tts"), HealthPing(ok=False, event="lost"))
        await peer.bus.publish(health_topic("stt"), HealthPing(ok=True))
        await peer.settle()
        assert peer.says() == []  # tts went down again: not ready (readiness is not sticky)
        await peer.bus.publish(health_topic("tts"), HealthPing(ok=True))
        announce = await peer.wait_for(tts.TOPIC_TTS_SAY)
        assert (announce.text, announce.system_announce) == ("System online.", True)
        await peer.bus.publish(health_topic("stt"), HealthPing(ok=True))
        await peer.settle()
        assert len(peer.says()) == 1


async def test_live_mode_is_entered_and_left_by_phrase() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars enter live mode", utt_id="l1")
        await peer.wait_for(TURN)
        await peer.final("say no wake word needed", utt_id="l2")
        await peer.wait_for(TURN, lambda t: t.id == "l2")
        state = await peer.wait_for(STATE + "local", lambda s: s.live_mode)
        assert state.live_mode
        await peer.final("exit live mode", utt_id="l3")
        await peer.wait_for(TURN, lambda t: t.id == "l3")
        await peer.final("say not heard", utt_id="l4")
        await peer.settle()
        assert [s.text for s in peer.says()] == [
            "Live mode enabled.",
            "no wake word needed",
            "Live mode disabled.",
        ]
