"""The command grammar: whole-word, whole-utterance rules for what TARS answers without an LLM.

py-tars matched substrings, so "I don't know" became a movement and anything containing
"hey" got the canned greeting. Here the time, date, greeting, stop and live-mode rules only
fire when the *whole* utterance (minus fillers such as "please" or "tars") is that request;
"say ..." must start the utterance; timer rules need the word "timer" and a verb. Movement
phrases (:mod:`~tars.text.moves`) follow the same whole-utterance rule, and a
spoken emergency stop ("stop moving", "freeze") is checked before anything else.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from tars.text.durations import Duration, parse_duration
from tars.text.moves import MovementPhrases

IntentKind = Literal[
    "time", "date", "say", "greeting", "timer_set", "timer_cancel", "stop", "live_on",
    "live_off", "move", "move_stop",
]  # fmt: skip

_FILLER = r"(?:(?:please|tars|now|right now|today|ok|okay|hey|so|um|uh|well)\s+)*"
_FILLER_END = r"(?:\s+(?:please|tars|now|right now|today|then))*"
_TIME = (
    r"what time is it",
    r"what's the time",
    r"whats the time",
    r"what is the time",
    r"what time it is",
    r"(?:do you know|can you tell me|tell me) what time it is",
    r"tell me the time",
    r"(?:what's|what is|whats) the current time",
)
_DATE = (
    r"(?:what's|what is|whats) (?:the date|today's date|todays date|the day)",
    r"what day is it",
    r"what date is it",
    r"what day of the week is it",
    r"(?:tell me|do you know) (?:the date|what day it is)",
)
_GREETING = (
    r"hello(?: there)?",
    r"hi(?: there)?",
    r"hey(?: there)?",
    r"hiya",
    r"howdy",
    r"greetings",
    r"good (?:morning|afternoon|evening)",
)
_STOP = (
    r"stop(?: it| that| talking)?",
    r"cancel(?: it| that)?",
    r"never ?mind",
    r"shut up",
    r"be quiet",
    r"that's enough|thats enough|enough",
    r"quiet",
)
_TIMER_VERB = re.compile(r"\b(?:set|start|create|make|put on)\b")
_TIMER_CANCEL = re.compile(r"\b(?:cancel|stop|delete|clear|remove|kill)\b.*\btimers?\b")


@dataclass(frozen=True, slots=True)
class Intent:
    """A rule that matched.

    Attributes:
        kind: Which rule.
        text: For ``say``: the text to speak back, with the user's casing.
        duration: For ``timer_set``: the timer length.
        action: For ``move``: the movement (a :data:`~tars.contracts.movement.MovementAction`).
        speed: For ``move``: the speed factor, 0.1-1.0.
    """

    kind: IntentKind
    text: str = ""
    duration: Duration | None = None
    action: str = ""
    speed: float = 1.0


def normalize(text: str) -> str:
    """Lower-case, keep letters, digits and apostrophes, collapse whitespace."""
    text = text.lower().replace("\u2019", "'")
    return " ".join(re.sub(r"[^a-z0-9']+", " ", text).split())


def _whole(alternatives: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    return re.compile(rf"^{_FILLER}(?:{'|'.join(alternatives)}){_FILLER_END}$")


class Rules:
    """The rule set (live-mode phrases are configurable)."""

    def __init__(
        self,
        live_on: tuple[str, ...] = ("enter live mode", "start live mode"),
        live_off: tuple[str, ...] = ("exit live mode", "stop live mode"),
        timer_max_s: float = 86400.0,
    ) -> None:
        """Compile the patterns."""
        self._time = _whole(_TIME)
        self._date = _whole(_DATE)
        self._greeting = _whole(_GREETING)
        self._stop = _whole(_STOP)
        self._live_on = _whole([re.escape(normalize(p)) for p in live_on] or ["(?!)"])
        self._live_off = _whole([re.escape(normalize(p)) for p in live_off] or ["(?!)"])
        self._timer_max_s = timer_max_s
        self._moves = MovementPhrases(_FILLER, _FILLER_END)

    def is_movement_stop(self, text: str) -> bool:
        """Whether ``text`` is a spoken emergency stop for the servos ("stop moving")."""
        return self._moves.is_stop(normalize(text))

    def match(self, text: str) -> Intent | None:
        """The intent of an utterance (wake phrase already stripped), or None for the LLM."""
        norm = normalize(text)
        if not norm:
            return None
        if self._moves.is_stop(norm):
            return Intent("move_stop")
        move = self._moves.match(norm)
        if move is not None:
            return Intent("move", action=move[0], speed=move[1])
        if self._live_on.match(norm):
            return Intent("live_on")
        if self._live_off.match(norm):
            return Intent("live_off")
        if re.search(r"\btimers?\b", norm):
            timer = self._timer(norm)
            if timer is not None:
                return timer
        if self._stop.match(norm):
            return Intent("stop")
        if self._time.match(norm):
            return Intent("time")
        if self._date.match(norm):
            return Intent("date")
        said = re.match(r"^\W*say[\s,:]+(.+)$", text.strip(), re.IGNORECASE | re.DOTALL)
        if said is not None and said.group(1).strip():
            return Intent("say", text=said.group(1).strip())
        if self._greeting.match(norm):
            return Intent("greeting")
        return None

    def _timer(self, norm: str) -> Intent | None:
        if _TIMER_CANCEL.search(norm):
            return Intent("timer_cancel")
        if _TIMER_VERB.search(norm) or norm.startswith("timer for"):
            duration = parse_duration(norm)
            if duration is not None and duration.seconds <= self._timer_max_s:
                return Intent("timer_set", duration=duration)
        return None


_CLOSED: frozenset[IntentKind] = frozenset(
    {
        "time", "date", "greeting", "timer_set", "timer_cancel", "stop", "live_on",
        "live_off", "move", "move_stop",
    }
)  # fmt: skip
"""Intents that are whole requests: nothing the user adds after them changes the answer.

"say ..." is left out: what to say can go on after a pause.
"""


@functools.cache
def _default_rules() -> Rules:
    return Rules()


def is_closed_command(text: str) -> bool:
    """Whether ``text`` is a whole command answered by rule ("what time is it").

    stt ends the turn at once on such a command; anything else may still go on after a
    thinking pause.
    """
    intent = _default_rules().match(text)
    return intent is not None and intent.kind in _CLOSED
