"""Deterministic rules, timer phrases and wake-phrase stripping (pure functions)."""

from __future__ import annotations

import datetime as dt

import pytest

from tars.runtime.settings import ConversationSettings
from tars.services.router.answers import date_reply, time_reply
from tars.text.commands import Rules, is_closed_command
from tars.text.durations import describe, number_to_words, parse_duration
from tars.text.wakephrase import WakePhrases

RULES = Rules()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("what time is it", "time"),
        ("What time is it?", "time"),
        ("what's the time please", "time"),
        ("what's the date", "date"),
        ("What day is it today?", "date"),
        ("hello", "greeting"),
        ("Hi there!", "greeting"),
        ("good morning", "greeting"),
        ("hey there", "greeting"),
        ("stop", "stop"),
        ("Never mind.", "stop"),
        ("cancel", "stop"),
        ("cancel the timer", "timer_cancel"),
        ("stop the timers", "timer_cancel"),
        ("enter live mode", "live_on"),
        ("Start live mode.", "live_on"),
        ("exit live mode", "live_off"),
        ("stop live mode", "live_off"),
    ],
)
def test_whole_utterance_rules(text: str, kind: str) -> None:
    intent = RULES.match(text)
    assert intent is not None
    assert intent.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        "hey, I don't know what snow is",
        "I don't know",
        "tell me about snow",
        "hello, can you tell me a joke",
        "what time is it in Tokyo",
        "stop the war in my head, tell me a story",
        "good morning, what's the weather like",
        "what's the best time to plant tomatoes",
        "set a timer",
    ],
)
def test_ordinary_speech_goes_to_the_llm(text: str) -> None:
    assert RULES.match(text) is None


def test_parrot_keeps_the_users_casing() -> None:
    intent = RULES.match("say hello Sam")
    assert intent is not None
    assert (intent.kind, intent.text) == ("say", "hello Sam")
    assert RULES.match("Say: Good night, Moon!") is not None


@pytest.mark.parametrize(
    ("text", "seconds", "spoken"),
    [
        ("set a timer for five minutes", 300, "five minutes"),
        ("set a timer for 10 seconds", 10, "ten seconds"),
        ("set a timer for one minute and 30 seconds", 90, "one minute and thirty seconds"),
        ("start a twenty-five minute timer", 1500, "twenty-five minutes"),
        ("set a timer for an hour and 5 minutes", 3900, "one hour and five minutes"),
        ("timer for a minute", 60, "one minute"),
    ],
)
def test_timer_durations(text: str, seconds: int, spoken: str) -> None:
    intent = RULES.match(text)
    assert intent is not None
    assert intent.duration is not None
    assert intent.kind == "timer_set"
    assert intent.duration.seconds == seconds
    assert intent.duration.spoken == spoken


def test_timer_descriptions() -> None:
    assert describe(300).adjective == "five minute"
    assert describe(3661).spoken == "one hour, one minute and one second"
    assert number_to_words(42) == "forty-two"
    assert number_to_words(115) == "one hundred fifteen"
    assert parse_duration("no numbers here") is None
    assert parse_duration("zero seconds") is None


def test_time_and_date_replies() -> None:
    afternoon = dt.datetime(2025, 3, 4, 15, 5)
    assert time_reply(afternoon) == "It is 3:05 PM."
    assert time_reply(dt.datetime(2025, 3, 4, 0, 30)) == "It is 12:30 AM."
    assert date_reply(afternoon) == "Today is Tuesday, March 4, 2025."


WAKE = WakePhrases(ConversationSettings().phrases())


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("okay nabu what time is it", "what time is it"),
        ("Okay, Nabu. What time is it?", "What time is it?"),
        ("OK Nabu, tell me a joke", "tell me a joke"),
        ("Hey Tars! Hello.", "Hello."),
        ("hey, tars, hey tars what's up", "what's up"),
        ("Hey Jarvis.", ""),
        ("hey there", "hey there"),
        ("hey, I don't know what snow is", "hey, I don't know what snow is"),
        ("tell me about hey tars", "tell me about hey tars"),
        ("hey tarsier facts", "hey tarsier facts"),
    ],
)
def test_wake_phrase_stripping(text: str, rest: str) -> None:
    assert WAKE.strip_leading(text) == rest


def test_wake_phrases_are_configurable() -> None:
    custom = WakePhrases(["computer"])
    assert custom.strip_leading("Computer, lights on") == "lights on"
    assert custom.strip_leading("okay nabu lights on") == "okay nabu lights on"
    assert WakePhrases([]).strip_leading("  hi ") == "hi"


def test_closed_commands_are_whole_requests() -> None:
    assert is_closed_command("What time is it?")
    assert is_closed_command("set a timer for five minutes")
    assert is_closed_command("wave")
    # Open: what to say, or what to remind, can go on after a pause.
    assert not is_closed_command("say hello")
    assert not is_closed_command("remind me to water the plants")
    assert not is_closed_command("what time is it in Tokyo")
