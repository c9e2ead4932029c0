"""Preemptive LLM requests: sent at a pause that sounds finished, adopted or cancelled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.unit.router.router_harness import Peer, router_running

from tars.contracts import conversation, llm, tts, wake

TURN = conversation.TOPIC_CONVERSATION_TURN
STATE = "router/state/local"
QUESTION = "What is the capital of France?"


def _early(request: llm.LLMRequest) -> bool:
    return bool(request.preemptive)


async def _asked_early(peer: Peer, text: str = QUESTION, utt_id: str = "u1") -> llm.LLMRequest:
    """Wake word, then a pause stt calls the end of the turn: the LLM is asked at once."""
    await peer.wake()
    await peer.partial(text, utt_id=utt_id, turn="open")
    request: llm.LLMRequest = await peer.wait_for(llm.TOPIC_LLM_REQUEST, _early)
    return request


def _index(peer: Peer, topic: str, predicate: Callable[[Any], bool] = lambda _: True) -> int:
    for index, message in enumerate(peer.seen):
        if message.topic == topic and predicate(message.data):
            return index
    raise AssertionError(f"nothing on {topic}")


async def test_a_final_with_the_same_words_adopts_the_early_answer() -> None:
    async with router_running() as (_, peer):
        early = await _asked_early(peer)
        await peer.delta(early.id, "Paris is the capital of France. It is ")
        await peer.final(QUESTION, utt_id="u1", heard_in="wake")
        first = await peer.wait_for(tts.TOPIC_TTS_SAY)
        await peer.delta(early.id, "lovely.", done=True)
        await peer.response(early.id, reply="Paris is the capital of France. It is lovely.")
        turn = await peer.wait_for(TURN, lambda t: t.id == "u1")
        thinking = _index(peer, STATE, lambda s: s.phase == "thinking")
    assert early.id == "u1"
    assert (early.text, early.stream, early.conversation_history) == (QUESTION, True, None)
    # Nothing was said before the final made it the reply.
    assert _index(peer, tts.TOPIC_TTS_SAY) > thinking
    assert (first.utt_id, first.text) == ("u1", "Paris is the capital of France.")
    assert [s.text for s in peer.says("u1")] == [first.text, "It is lovely."]
    assert (turn.reply, turn.route, turn.interrupted) == (
        "Paris is the capital of France. It is lovely.",
        "llm",
        False,
    )
    assert [r.id for r in peer.of(llm.TOPIC_LLM_REQUEST)] == [early.id]
    assert peer.of(llm.TOPIC_LLM_CANCEL) == []
    assert peer.router_metrics.count("preempt_adopted") == 1


async def test_a_final_that_says_more_cancels_the_early_answer_and_asks_again() -> None:
    async with router_running() as (_, peer):
        early = await _asked_early(peer, "What is the capital?")
        await peer.delta(early.id, "Which country do you mean? ")
        await peer.final("What is the capital of Spain?", utt_id="u1", heard_in="wake")
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: not r.preemptive)
        await peer.delta(early.id, "France? Germany?", done=True)  # late: never spoken
        await peer.response(request.id, reply="Madrid.")
        turn = await peer.wait_for(TURN, lambda t: t.id == "u1")
    assert (cancel.id, cancel.reason) == ("u1", "preempt_final")
    # The utterance id went to the cancelled request: the new one has an id of its own.
    assert request.id.startswith("u1-")
    assert request.text == "What is the capital of Spain?"
    assert [s.text for s in peer.says()] == ["Madrid."]
    assert turn.reply == "Madrid."


async def test_speech_after_the_pause_cancels_the_early_answer() -> None:
    async with router_running() as (_, peer):
        early = await _asked_early(peer, "Tell me a joke.")
        await peer.partial("Tell me a joke about robots", utt_id="u1")
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
    assert (cancel.id, cancel.reason) == (early.id, "preempt_continued")


async def test_a_rejected_utterance_cancels_the_early_answer() -> None:
    async with router_running() as (_, peer):
        early = await _asked_early(peer)
        await peer.rejected("wake", QUESTION, utt_id="u1")
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
        said = await peer.wait_for(tts.TOPIC_TTS_SAY)
    assert (cancel.id, cancel.reason) == (early.id, "preempt_rejected")
    assert said.text == "Sorry, I didn't catch that."


async def test_an_early_answer_with_no_final_is_cancelled() -> None:
    async with router_running(preempt_hold_s=0.05) as (_, peer):
        early = await _asked_early(peer)
        cancel = await peer.wait_for(llm.TOPIC_LLM_CANCEL)
    assert (cancel.id, cancel.reason) == (early.id, "preempt_no_final")


async def test_an_early_answer_that_wants_a_tool_is_asked_again_after_the_final() -> None:
    async with router_running() as (_, peer):
        early = await _asked_early(peer, "Look to the left and tell me what you see.")
        await peer.final("Look to the left and tell me what you see.", utt_id="u1")
        await peer.wait_for(STATE, lambda s: s.phase == "thinking")
        await peer.response(early.id, error="look_left is not run", error_code="tool_deferred")
        again = await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: not r.preemptive)
        await peer.response(again.id, reply="A window.")
        turn = await peer.wait_for(TURN, lambda t: t.id == "u1")
    assert (early.id, again.id[:3]) == ("u1", "u1-")
    assert [s.text for s in peer.says()] == ["A window."]
    assert turn.reply == "A window."


async def test_rules_and_unfinished_pauses_ask_nothing_early() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.partial("What time is it?", utt_id="u1", turn="open")  # a rule answers it
        await peer.partial("Tell me about", utt_id="u1", turn="incomplete")
        await peer.final("What time is it?", utt_id="u1", heard_in="wake")
        said = await peer.wait_for(tts.TOPIC_TTS_SAY)
    assert "3:15" in said.text
    assert peer.of(llm.TOPIC_LLM_REQUEST) == []


async def test_an_unsure_pause_asks_early_unless_the_words_stop_mid_sentence() -> None:
    question = "who wrote Romeo and Juliet"  # no full stop: the voice sounded done
    async with router_running() as (_, peer):
        await peer.wake()
        # The voice sounded done, the words stop mid-sentence: the user is likely to go on.
        await peer.partial("who wrote Romeo and", utt_id="u1", turn="unsure")
        # Nothing says the words go on: worth starting on.
        await peer.partial(question, utt_id="u1", turn="unsure")
        early = await peer.wait_for(llm.TOPIC_LLM_REQUEST, _early)
        await peer.delta(early.id, "Shakespeare.", done=True)
        await peer.response(early.id, reply="Shakespeare.")
        await peer.final(question, utt_id="u1", heard_in="wake")
        said = await peer.wait_for(tts.TOPIC_TTS_SAY)
    assert (early.id, early.text) == ("u1", question)
    assert [r.text for r in peer.of(llm.TOPIC_LLM_REQUEST)] == [question]
    assert (said.utt_id, said.text) == ("u1", "Shakespeare.")


async def test_preemption_can_be_turned_off() -> None:
    async with router_running(preempt_llm=False) as (_, peer):
        await peer.wake()
        await peer.partial(QUESTION, utt_id="u1", turn="open")
        await peer.final(QUESTION, utt_id="u1", heard_in="wake")
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST)
    assert (request.id, request.preemptive) == ("u1", None)
    assert len(peer.of(llm.TOPIC_LLM_REQUEST)) == 1


async def test_the_pause_after_the_wake_word_asks_nothing() -> None:
    # stt may transcribe the wake word itself (misheard, so not stripped) before the wake
    # event reaches it; its pause ended before the detection: no request. The question's does.
    async with router_running() as (_, peer):
        await peer.bus.publish(
            wake.TOPIC_WAKE_EVENT, wake.WakeEvent(type="wake", satellite="local", ts=100.0)
        )
        await peer.partial("Okay, now, boom.", utt_id="u1", turn="open", speech_end_ts=99.9)
        await peer.partial(QUESTION, utt_id="u1", turn="open", speech_end_ts=101.6)
        request = await peer.wait_for(llm.TOPIC_LLM_REQUEST)
    assert (request.text, request.preemptive) == (QUESTION, True)
    assert len(peer.of(llm.TOPIC_LLM_REQUEST)) == 1


async def test_each_remembered_turn_has_the_llm_read_the_history_ahead() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.final("What time is it?", utt_id="u1", heard_in="wake")
        after_rule = await peer.wait_for(llm.TOPIC_LLM_PREFILL)
        await peer.wake()
        await peer.final(QUESTION, utt_id="u2", heard_in="wake")
        await peer.wait_for(llm.TOPIC_LLM_REQUEST, lambda r: r.id == "u2")
        await peer.response("u2", reply="Paris.")
        after_llm = await peer.wait_for(llm.TOPIC_LLM_PREFILL, skip=1)
    assert [(m.role, m.content) for m in after_rule.conversation_history] == [
        ("user", "What time is it?"),
        ("assistant", "It is 3:15 PM."),
    ]
    assert after_rule.satellite == "local"
    assert [m.content for m in after_llm.conversation_history][2:] == [QUESTION, "Paris."]


async def test_no_history_read_ahead_when_turned_off_or_not_remembered() -> None:
    async with router_running(llm_prefill=False) as (_, off):
        await off.wake()
        await off.final("What time is it?", utt_id="u1", heard_in="wake")
        await off.wait_for(TURN, lambda t: t.id == "u1")
    async with router_running() as (_, on):
        await on.wake()
        await on.rejected("wake", "mumble", utt_id="u2")  # an apology is not remembered
        await on.wait_for(TURN, lambda t: t.id == "u2")
    assert off.of(llm.TOPIC_LLM_PREFILL) == []
    assert on.of(llm.TOPIC_LLM_PREFILL) == []


async def test_the_history_is_read_ahead_only_once_the_reply_has_played() -> None:
    # During playback the read would take the cores from TTS.
    async with router_running() as (_, peer):
        await peer.health("tts", True)
        await peer.wake()
        await peer.final("What time is it?", utt_id="u1", heard_in="wake")
        await peer.wait_for(TURN, lambda t: t.id == "u1")
        await peer.tts_status("speaking_start", "u1")
        await peer.wait_for(STATE, lambda s: s.phase == "speaking")
        before_end = len(peer.of(llm.TOPIC_LLM_PREFILL))
        await peer.tts_status("speaking_end", "u1")
        prefill = await peer.wait_for(llm.TOPIC_LLM_PREFILL)
    assert before_end == 0
    assert [m.content for m in prefill.conversation_history] == [
        "What time is it?",
        "It is 3:15 PM.",
    ]


async def test_the_start_of_a_question_is_read_ahead_while_the_user_speaks() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.partial("What", utt_id="u1")  # one word: not worth a read
        await peer.partial("What is the capital", utt_id="u1")
        await peer.partial("What is the capital", utt_id="u1")  # nothing new to read
        await peer.partial("What is the capital of", utt_id="u1", turn="incomplete")
        await peer.partial(QUESTION, utt_id="u1", turn="open")
        early = await peer.wait_for(llm.TOPIC_LLM_REQUEST, _early)
    reads = peer.of(llm.TOPIC_LLM_PREFILL)
    assert [r.question for r in reads] == ["What is the capital", "What is the capital of"]
    assert all(r.satellite == "local" and r.conversation_history == [] for r in reads)
    assert early.text == QUESTION


async def test_no_read_ahead_of_a_rule_command_or_when_turned_off() -> None:
    async with router_running() as (_, peer):
        await peer.wake()
        await peer.partial("What time is it", utt_id="u1")  # a rule answers it
        await peer.partial("Tell me a joke", utt_id="u2")
        read = await peer.wait_for(llm.TOPIC_LLM_PREFILL)
    async with router_running(llm_prefill=False) as (_, off):
        await off.wake()
        await off.partial("Tell me a joke", utt_id="u1")
        await off.partial("Tell me a joke about robots.", utt_id="u1", turn="open")
        await off.wait_for(llm.TOPIC_LLM_REQUEST, _early)  # the partials were taken
    assert read.question == "Tell me a joke"
    assert len(peer.of(llm.TOPIC_LLM_PREFILL)) == 1
    assert off.of(llm.TOPIC_LLM_PREFILL) == []
