"""Movement by voice: whole-utterance phrases for the servo vocabulary, and the spoken stop.

Works with no LLM at all, and with a small model whose tool calls are unreliable. Only a
whole utterance that *is* a movement request matches ("wave at me", "please turn left
slowly"); "I don't know" or "how do birds wave" never move the robot. The actions are the
ones of :data:`tars.contracts.movement.CoreAction`.
"""

from __future__ import annotations

import re

from tars.contracts.movement import CoreAction

_POLITE = r"(?:(?:can|could|would|will) you\s+)?"
_SPEEDS = {"slowly": 0.4, "slow": 0.4, "gently": 0.4, "quickly": 1.0, "fast": 1.0}
_SPEED = r"(?:(?P<before>slowly|gently|quickly)\s+)?"
_SPEED_END = r"(?:\s+(?P<after>slowly|slow|gently|quickly|fast))?"

PHRASES: dict[CoreAction, tuple[str, ...]] = {
    "wave": (
        r"wave",
        r"wave (?:at|to) (?:me|us|everyone|everybody)",
        r"wave (?:hello|hi|goodbye|bye)",
        r"wave your (?:hand|arm)",
        r"give (?:me|us) a wave",
    ),
    "bow": (r"bow", r"bow down", r"take a bow", r"do a bow"),
    "laugh": (r"laugh", r"do (?:a|your) laugh"),
    "pose": (r"pose", r"strike a pose", r"do a pose"),
    "balance": (r"balance", r"do a balance", r"do your balance"),
    "reset": (
        r"reset(?: your)? position",
        r"stand (?:up )?straight",
        r"go (?:back )?to (?:your )?neutral(?: position)?",
    ),
    "step_forward": (r"(?:step|walk|move|go|come) forward", r"take a step forward"),
    "step_backward": (
        r"(?:step|walk|move|go) back(?:ward|wards)?",
        r"take a step back(?:ward|wards)?",
        r"back up",
    ),
    "turn_left": (r"(?:turn|rotate) (?:to the |to your )?left",),
    "turn_right": (r"(?:turn|rotate) (?:to the |to your )?right",),
}
"""Accepted phrasings per action (regex fragments on normalised text)."""

CONFIRMATIONS: dict[str, str] = {
    "wave": "Waving.",
    "bow": "Bowing.",
    "laugh": "Ha. Ha. Ha.",
    "pose": "Striking a pose.",
    "balance": "Balancing.",
    "reset": "Back to neutral.",
    "step_forward": "Stepping forward.",
    "step_backward": "Stepping back.",
    "turn_left": "Turning left.",
    "turn_right": "Turning right.",
}
"""What the router says when it sends a movement."""
STOP_CONFIRMATION = "Stopping."
"""What the router says after a spoken emergency stop."""

_STOP = (
    r"emergency stop",
    r"stop (?:moving|movement|all movement|your movement|walking|waving|dancing|turning|"
    r"the servos|the motors)",
    r"freeze",
    r"halt",
    r"don't move|dont move",
    r"hold still",
)

DEFAULT_SPEED = 0.8
"""Speed of a movement asked for without a speed word."""


class MovementPhrases:
    """Compiled movement phrases; ``filler``/``filler_end`` are the rule set's polite words."""

    def __init__(self, filler: str, filler_end: str) -> None:
        """Compile every phrase with the shared fillers around it."""
        self._moves = [
            (
                action,
                re.compile(
                    rf"^{filler}{_POLITE}{_SPEED}(?:{'|'.join(phrases)}){_SPEED_END}{filler_end}$"
                ),
            )
            for action, phrases in PHRASES.items()
        ]
        self._stop = re.compile(rf"^{filler}(?:{'|'.join(_STOP)}){filler_end}$")

    def is_stop(self, norm: str) -> bool:
        """Whether the normalised utterance is a spoken emergency stop."""
        return self._stop.match(norm) is not None

    def match(self, norm: str) -> tuple[CoreAction, float] | None:
        """The ``(action, speed)`` a normalised utterance asks for, or None."""
        for action, pattern in self._moves:
            found = pattern.match(norm)
            if found is not None:
                word = found.group("before") or found.group("after")
                return action, _SPEEDS.get(word or "", DEFAULT_SPEED)
        return None
