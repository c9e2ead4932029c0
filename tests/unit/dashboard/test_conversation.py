"""The conversation view built from bus payloads: upserts, and why a turn got no answer."""

from __future__ import annotations

from tars.contracts import conversation, llm, stt, tts, wake
from tars.dashboard.conversation import ConversationLog, Line


def feed(log: ConversationLog, topic: str, data: object, ts: float = 1.0) -> list[Line]:
    return log.apply(topic, data, ts)


def test_partials_grow_one_line_until_the_final_replaces_them() -> None:
    log = ConversationLog()
    feed(
        log, stt.TOPIC_STT_PARTIAL, stt.PartialTranscript(text="what", utt_id="u1", satellite="den")
    )
    feed(
        log,
        stt.TOPIC_STT_PARTIAL,
        stt.PartialTranscript(text="what time", utt_id="u1", satellite="den"),
    )
    final = stt.FinalTranscript(
        text="what time is it", utt_id="u1", satellite="den", heard_in="wake"
    )
    (line,) = feed(log, stt.TOPIC_STT_FINAL, final)
    late = stt.PartialTranscript(text="what ti", utt_id="u1", satellite="den")
    feed(log, stt.TOPIC_STT_PARTIAL, late)  # a partial arriving after the final changes nothing
    assert [(x.id, x.role, x.state, x.text) for x in log.lines()] == [
        ("u:u1", "user", "final", "what time is it")
    ]
    assert line.detail == "heard in the wake window"
    assert log.satellites() == ["den"]


def test_a_streamed_reply_builds_up_and_the_turn_closes_it() -> None:
    log = ConversationLog()
    feed(
        log,
        stt.TOPIC_STT_FINAL,
        stt.FinalTranscript(text="hi", utt_id="r1", satellite="den", source="text"),
    )
    # The first delta may arrive before the request that names the satellite.
    feed(log, llm.TOPIC_LLM_STREAM, llm.LLMStreamDelta(id="r1", seq=1, delta="Hello"))
    feed(log, llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id="r1", text="hi", satellite="den"))
    feed(log, llm.TOPIC_LLM_STREAM, llm.LLMStreamDelta(id="r1", seq=2, delta=" there."))
    feed(log, tts.TOPIC_TTS_SAY, tts.TtsSay(text="Hello there.", utt_id="r1", satellite="den"))
    turn = conversation.ConversationTurn(
        id="r1", satellite="den", user_text="hi", reply="Hello there.", route="llm",
        timings_ms={"stt_to_router": 3.0, "router_to_first_sentence": 40.0},
    )  # fmt: skip
    feed(log, conversation.TOPIC_CONVERSATION_TURN, turn)
    user, reply = log.lines()
    assert (user.state, reply.satellite, reply.text, reply.state) == (
        "typed",
        "den",
        "Hello there.",
        "done",
    )
    assert reply.detail == "llm · 43 ms in stages"


def test_spoken_pieces_without_a_stream_are_joined() -> None:
    log = ConversationLog()
    for piece in ("It is late.", "Go to bed."):
        feed(log, tts.TOPIC_TTS_SAY, tts.TtsSay(text=piece, utt_id="r2", satellite="den"))
    ack = tts.TtsSay(text="Yes?", utt_id="ack", satellite="den", wake_ack=True)
    feed(log, tts.TOPIC_TTS_SAY, ack)
    reply, acknowledgement = log.lines()
    assert (reply.text, reply.state) == ("It is late. Go to bed.", "speaking")
    assert acknowledgement.state == "ack"


def test_a_rejected_transcript_says_which_filter_and_why() -> None:
    log = ConversationLog()
    rejected = stt.RejectedTranscript(
        text="thanks for watching", filter="common_words", reason="ratio 0.2 < 0.5",
        heard_in="wake", utt_id="u3", satellite="den",
    )  # fmt: skip
    (line,) = feed(log, stt.TOPIC_STT_REJECTED, rejected)
    assert line.state == "rejected"
    assert line.detail == "not answered: common_words (ratio 0.2 < 0.5)"


def test_a_continuation_marks_the_first_part_and_cuts_its_reply() -> None:
    log = ConversationLog()
    feed(
        log,
        stt.TOPIC_STT_FINAL,
        stt.FinalTranscript(text="set a timer", utt_id="a", satellite="den"),
    )
    feed(log, llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id="a", text="set a timer", satellite="den"))
    continuation = stt.TurnContinuation(utt_id="a", satellite="den", gap_s=0.6)
    changed = feed(log, stt.TOPIC_STT_CONTINUATION, continuation)
    assert [(x.id, x.state) for x in changed] == [("u:a", "continued"), ("a:a", "interrupted")]
    joined = stt.FinalTranscript(
        text="set a timer for ten minutes", utt_id="b", satellite="den", continues="a"
    )
    earlier, whole = feed(log, stt.TOPIC_STT_FINAL, joined)
    assert (earlier.id, earlier.detail) == ("u:a", "joined with what followed into one request")
    assert (whole.id, whole.text) == ("u:b", "set a timer for ten minutes")


def test_a_barge_in_is_a_note_and_interrupts_the_reply() -> None:
    log = ConversationLog()
    feed(log, tts.TOPIC_TTS_SAY, tts.TtsSay(text="Once upon a time", utt_id="r", satellite="den"))
    event = wake.WakeEvent(type="interrupt", tts_id="r", satellite="den")
    note, reply = feed(log, wake.TOPIC_WAKE_EVENT, event)
    assert (note.role, note.state) == ("note", "warn")
    assert (reply.state, reply.detail) == ("interrupted", "interrupted by the wake word")
    done = conversation.ConversationTurn(
        id="r", satellite="den", user_text="story", reply="Once upon", interrupted=True
    )
    feed(log, conversation.TOPIC_CONVERSATION_TURN, done)
    assert {line.id: line.state for line in log.lines()}["a:r"] == "interrupted"


def test_stop_and_errors_and_unknown_topics() -> None:
    log = ConversationLog()
    feed(log, llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id="x", text="q"))
    (line,) = feed(log, llm.TOPIC_LLM_RESPONSE, llm.LLMResponse(id="x", error="timeout"))
    assert (line.satellite, line.state, line.detail) == ("local", "error", "LLM error: timeout")
    feed(log, tts.TOPIC_TTS_SAY, tts.TtsSay(text="Hi", utt_id="y"))
    (stopped,) = feed(
        log, tts.TOPIC_TTS_STATUS, tts.TtsStatus(event="stopped", utt_id="y", reason="cancel")
    )
    assert stopped.detail == "stopped: cancel"
    assert feed(log, "camera/frame", object()) == []


def test_the_log_is_bounded() -> None:
    log = ConversationLog(max_lines=3)
    for index in range(5):
        feed(log, stt.TOPIC_STT_FINAL, stt.FinalTranscript(text=str(index), utt_id=f"u{index}"))
    assert [line.text for line in log.lines()] == ["2", "3", "4"]
