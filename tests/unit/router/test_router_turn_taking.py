"""Turn-taking on the in-memory bus: stt's windows, continuations, rejections, no LLM."""

from __future__ import annotations

import logging

import pytest
from tests.unit.router.router_harness import Peer, router_running

from tars.contracts import conversation, llm, stt, tts
from tars.runtime.settings import ConversationSettings, RuntimeSettings
from tars.services.router.service import build
from tars.services.router.settings import RouterSettings

TURN = conversation.TOPIC_CONVERSATION_TURN
STATE = "router/state/local"
NOT_HEARD = RouterSettings().not_heard_text
NO_LLM = RouterSettings().no_llm_text


async def _tts_reports_playback(peer: Peer) -> None:
    """TTS is up, so the router waits for the end of playback before leaving "speaking"."""
    await peer.health("tts", True)


def _phases(peer: Peer) -> list[tuple[str, str | None]]:
    return [(s.phase, s.utt_id) for s in peer.of(STATE)]


# -- one conversation clock -----------------------------------------------------------------
def test_build_reads_the_shared_conversation_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARS_WAKE_WINDOW_S", "3.5")
    monkeypatch.setenv("TARS_FOLLOWUP_WINDOW_S", "0")
    monkeypatch.setenv("TARS_LIVE_MODE", "1")
    router = build(RuntimeSettings())
    assert router.conversation == ConversationSettings()
    assert (router.conversation.wake_window_s, router.conversation.followup_window_s) == (3.5, 0)
    assert router.session("kitchen").live_mode
    assert not {"wake_phrases", "wake_window_s", "live_mode_default"} & set(
        RouterSettings.model_fields
    )


def test_a_moved_router_variable_is_named_in_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ROUTER_WAKE_WINDOW_S", "3")
    with caplog.at_level(logging.WARNING, logger="tars.services.router.service"):
        router = build(RuntimeSettings())
    assert router.conversation.wake_window_s == ConversationSettings().wake_window_s
    assert "ROUTER_WAKE_WINDOW_S is no longer read: set TARS_WAKE_WINDOW_S" in caplog.text


async def test_wake_phrases_come_from_the_conversation_settings() -> None:
    async with router_running(wake_phrases="computer|hey box") as (_, peer):
        await peer.final("Computer, say lights on", utt_id="u1")
        turn = await peer.wait_for(TURN)
        assert (turn.user_text, turn.reply) == ("say lights on", "lights on")


async def test_a_final_stt_heard_in_its_window_is_accepted_after_ours_closed() -> None:
    async with router_running(wake_window_s=0.05) as (_, peer):
        await peer.wake()
        await peer.wait_for(STATE, lambda s: s.phase == "listening")
        await peer.wait_for(STATE, lambda s: s.phase == "idle")  # our window has closed
        await peer.final("say not addressed", utt_id="u0")
        await peer.final("say made it", utt_id="u1", heard_in="wake")
        turn = await peer.wait_for(TURN)
        assert (turn.id, turn.reply) == ("u1", "made it")
        assert [s.text for s in peer.says()] == ["made it"]
        assert peer.router_metrics.count("finals_ignored") == 1


async def test_live_mode_switched_by_voice_is_published_at_once() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars enter live mode", utt_id="l1")
        await peer.wait_for(TURN)
        states = peer.of(STATE)
        # Published when it changed (still idle), not only with the next phase change.
        assert (states[0].phase, states[0].live_mode) == ("idle", True)
        await peer.final("exit live mode", utt_id="l2")
        await peer.wait_for(STATE, lambda s: not s.live_mode)


# -- continuation ---------------------------------------------------------------------------
async def test_continuation_cancels_the_reply_and_the_whole_request_is_answered_once() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.final("what's the weather", utt_id="u1", heard_in="wake")
        await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u1")
        await peer.delta("u1", "It is sunny. And ")
        await peer.wait_for(tts.TOPIC_TTS_SAY)
        await peer.continuation("u1")
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
        stop = await peer.wait_for(tts.TOPIC_TTS_CONTROL)
        first = await peer.wait_for(TURN, lambda t: t.id == "u1")
        await peer.wait_for(STATE, lambda s: s.phase == "interrupted")
        await peer.delta("u1", "warm today. ", done=True)  # late: nothing more of u1 is said
        await peer.final(
            "what's the weather in Paris tomorrow",
            utt_id="u2",
            heard_in="continuation",
            continues="u1",
        )
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u2")
        await peer.response("u2", reply="Rain in Paris.")
        second = await peer.wait_for(TURN, lambda t: t.id == "u2")
        assert (cancel.id, cancel.reason) == ("u1", "continuation")
        assert (stop.action, stop.id, stop.reason) == ("stop", "u1", "continuation")
        assert first.interrupted
        assert [s.text for s in peer.says("u1")] == ["It is sunny."]
        assert request.text == "what's the weather in Paris tomorrow"
        assert request.conversation_history is None  # half a question is not history
        assert (second.reply, second.interrupted) == ("Rain in Paris.", False)
        assert [r.id for r in peer.of(llm.TOPIC_LLM_REQUEST)] == ["u1", "u2"]
        phases = _phases(peer)
        after = phases.index(("interrupted", "u1"))
        assert phases[after : after + 3] == [
            ("interrupted", "u1"),
            ("listening", None),
            ("thinking", "u2"),
        ]


async def test_continuation_stops_a_rule_answer_that_is_still_playing() -> None:
    async with router_running() as (_, peer):
        await _tts_reports_playback(peer)
        await peer.final("hey tars what time is it", utt_id="u1")
        await peer.wait_for(TURN, lambda t: t.id == "u1")
        await peer.continuation("u1")
        stop = await peer.wait_for(tts.TOPIC_TTS_CONTROL)
        await peer.wait_for(STATE, lambda s: s.phase == "listening")
        # Without a wake word, heard_in or continues, only the window opened for it lets
        # the rest of the request in.
        await peer.final("what time is it in Tokyo", utt_id="u2")
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u2")
        assert (stop.id, stop.reason) == ("u1", "continuation")
        assert request.conversation_history is None  # the answered first part is forgotten
        assert _phases(peer)[:3] == [("speaking", "u1"), ("interrupted", "u1"), ("listening", None)]


async def test_a_final_that_continues_a_reply_in_flight_cancels_it_first() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars tell me", utt_id="u1")
        await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u1")
        await peer.final("tell me a joke", utt_id="u2", heard_in="continuation", continues="u1")
        await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u2")
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
        stopped = await peer.wait_for(TURN, lambda t: t.id == "u1")
        assert (cancel.id, cancel.reason) == ("u1", "continuation")
        assert stopped.interrupted
        # The continuation event, handled late, must not touch the new reply.
        await peer.continuation("u1")
        await peer.response("u2", reply="A joke.")
        assert (await peer.wait_for(TURN, lambda t: t.id == "u2")).reply == "A joke."
        assert peer.router_metrics.count("continuations_idle") == 1
        assert [c.id for c in peer.of(llm.TOPIC_LLM_CANCEL)] == ["u1"]


async def test_a_continuing_final_that_reuses_the_utt_id_gets_a_fresh_reply_id() -> None:
    async with router_running() as (_, peer):
        await peer.final("hey tars tell me", utt_id="u1")
        await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u1")
        await peer.final("tell me more", utt_id="u1", heard_in="continuation", continues="u1")
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.text == "tell me more")
        await peer.delta("u1", "Late words of the first reply. ", done=True)
        await peer.response(request.id, reply="More.")
        turn = await peer.wait_for(TURN, lambda t: t.id == request.id)
        assert request.id != "u1"
        assert turn.reply == "More."
        assert peer.says("u1") == []


# -- rejections -----------------------------------------------------------------------------
async def test_a_rejection_after_a_wake_word_is_answered_and_opens_a_follow_up() -> None:
    async with router_running() as (_, peer):
        await _tts_reports_playback(peer)
        await peer.wake()
        await peer.rejected("wake", text="mm", utt_id="r1")
        said = await peer.wait_for(tts.TOPIC_TTS_SAY)
        turn = await peer.wait_for(TURN)
        assert (said.text, said.utt_id, said.last) == (NOT_HEARD, "r1", True)
        assert (turn.route, turn.user_text) == ("error", "mm")
        states = len(peer.of(STATE))
        await peer.tts_status("speaking_end", "r1")
        await peer.wait_for(STATE, lambda s: s.phase == "listening", skip=states)
        await peer.final("say again", utt_id="u2")  # no wake word needed now
        assert (await peer.wait_for(TURN, lambda t: t.id == "u2")).reply == "again"


@pytest.mark.parametrize("heard_in", ["interrupt", "continuation"])
async def test_rejections_after_a_barge_in_or_continuation_are_answered(
    heard_in: stt.ListenReason,
) -> None:
    async with router_running() as (_, peer):
        await peer.rejected(heard_in)
        said = await peer.wait_for(tts.TOPIC_TTS_SAY)
        assert said.text == NOT_HEARD


async def test_background_talk_in_follow_up_and_live_windows_is_not_answered() -> None:
    async with router_running() as (_, peer):
        await peer.rejected("followup")
        await peer.rejected("live")
        await peer.rejected("wake", utt_id="r3")  # a later positive: the only thing said
        await peer.wait_for(TURN)
        assert [(s.text, s.utt_id) for s in peer.says()] == [(NOT_HEARD, "r3")]
        metrics = peer.router_metrics
        assert metrics.count("stt_rejections") == 3
        assert metrics.count("stt_rejections.followup") == metrics.count("stt_rejections.live") == 1
        assert metrics.count("not_heard_replies") == 1


async def test_an_empty_not_heard_text_says_nothing() -> None:
    async with router_running(not_heard_text="") as (_, peer):
        await peer.rejected("wake")
        await peer.final("hey tars say next", utt_id="u1")
        await peer.wait_for(TURN)
        assert [s.text for s in peer.says()] == ["next"]
        assert peer.router_metrics.count("stt_rejections.wake") == 1


# -- no LLM ---------------------------------------------------------------------------------
async def test_without_a_healthy_llm_a_request_is_answered_at_once() -> None:
    async with router_running(llm_healthy=False) as (_, peer):
        await peer.final("tell me a joke", source="text", satellite="cli", utt_id="q1")
        turn = await peer.wait_for(TURN, within_s=1.0)  # not after llm_timeout_s (20 s)
        assert (turn.route, turn.reply) == ("error", NO_LLM)
        assert peer.of(llm.TOPIC_LLM_REQUEST) == []
        await peer.final("what time is it", source="text", satellite="cli", utt_id="q2")
        assert (await peer.wait_for(TURN, lambda t: t.id == "q2")).route == "rule"
        await peer.health("llm", True)
        await peer.final("tell me a joke", source="text", satellite="cli", utt_id="q3")
        await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "q3")


async def test_an_llm_that_goes_down_is_not_waited_for() -> None:
    async with router_running() as (_, peer):
        await peer.health("llm", False, event="lost")
        await peer.final("tell me a joke", source="text", satellite="cli", utt_id="q1")
        turn = await peer.wait_for(TURN)
        assert turn.reply == NO_LLM
