"""The per-satellite session machine and the streamed-reply bookkeeping (pure logic)."""

from __future__ import annotations

import pytest

from tars.services.router.reply import Reply
from tars.services.router.state import InvalidTransition, Session


def test_phases_follow_the_machine() -> None:
    session = Session("kitchen")
    assert session.move("listening")
    assert session.move("thinking", "r1")
    assert not session.move("thinking", "r1")
    assert session.busy
    assert session.move("speaking", "r1")
    assert session.move("interrupted", "r1")
    assert session.move("listening")
    with pytest.raises(InvalidTransition):
        Session("x").move("interrupted")


def test_windows_gate_transcripts_and_speech_extends_them() -> None:
    session = Session("local")
    assert not session.accepts(0.0, typed=False, has_wake_phrase=False)
    assert session.accepts(0.0, typed=True, has_wake_phrase=False)
    assert session.accepts(0.0, typed=False, has_wake_phrase=True)
    session.open_window(0.0, 8.0)
    assert session.accepts(7.9, typed=False, has_wake_phrase=False)
    session.extend_window(7.5, 3.0)  # the user is still talking at 7.5 s
    assert session.accepts(10.0, typed=False, has_wake_phrase=False)
    assert not session.accepts(10.6, typed=False, has_wake_phrase=False)
    session.extend_window(11.0, 3.0)  # a closed window is not reopened by speech
    assert not session.window_open(11.5)


def test_expiry_returns_a_listening_satellite_to_idle() -> None:
    session = Session("local")
    session.move("listening")
    session.open_window(0.0, 1.0)
    assert not session.expire(0.5)
    assert session.expire(1.0)
    assert session.phase == "idle"


def test_a_transcript_stt_heard_in_a_window_is_accepted_without_one_here() -> None:
    session = Session("local")
    assert not session.window_open(0.0)
    assert session.accepts(0.0, typed=False, has_wake_phrase=False, gated=True)


def test_live_mode_accepts_everything() -> None:
    assert Session("local", live_mode=True).accepts(0.0, typed=False, has_wake_phrase=False)


def test_stream_deltas_become_sentences_and_the_last_is_held() -> None:
    reply = Reply("r1", "local", "q")
    assert reply.feed("Hello there. How ") == ["Hello there."]
    assert reply.feed("are you? ") == []  # held: it might be the last piece
    assert reply.feed("Fine") == ["How are you?"]
    assert reply.finish_stream() == "Fine"


def test_residual_is_what_was_not_spoken() -> None:
    reply = Reply("r1", "local", "q")
    reply.spoken = ["Hello there."]
    assert reply.residual("Hello  there. How are you?") == "How are you?"
    reply.spoken = ["Hello there.", "How are you?"]
    assert reply.residual("Hello there. How are you?") is None


def test_desync_speaks_nothing_more_once_something_was_spoken() -> None:
    reply = Reply("r1", "local", "q")
    reply.spoken = ["Goodbye."]
    assert reply.residual("Hello there.") is None
    assert Reply("r2", "local", "q").residual("Hello there.") == "Hello there."
