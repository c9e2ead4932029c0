"""One satellite's conversation state: phase, live mode and the listening windows (pure logic).

Phases follow the issue's machine: ``idle -> listening -> thinking -> speaking`` and
``interrupted`` on barge-in or stop. A transcript is accepted when it is typed text, when live
mode is on, when a wake or follow-up window is open, when it starts with a wake phrase, or
when stt already let it through one of its own windows (``heard_in``), which it judges in
audio time and so may see open a moment after the router's own window has closed.
Windows are deadlines on a monotonic clock supplied by the caller; partial transcripts push an
open window out, so a user who is still talking is not cut off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tars.contracts.conversation import ConversationPhase

_ALLOWED: dict[ConversationPhase, frozenset[ConversationPhase]] = {
    "idle": frozenset({"listening", "thinking", "speaking"}),
    "listening": frozenset({"idle", "thinking", "speaking", "interrupted"}),
    "thinking": frozenset({"speaking", "interrupted", "idle", "listening"}),
    "speaking": frozenset({"interrupted", "idle", "listening", "thinking"}),
    "interrupted": frozenset({"idle", "listening", "thinking", "speaking"}),
}


class InvalidTransition(ValueError):
    """A phase change the machine does not allow."""


@dataclass
class Session:
    """Conversation state of one satellite.

    Attributes:
        satellite: Satellite id.
        live_mode: Every transcript is addressed to TARS.
        phase: Current phase.
        since: Wall-clock time the phase began, Unix seconds.
        reply_id: Id of the reply in progress (thinking/speaking), if any.
        window_until: Monotonic deadline of the open wake or follow-up window, if any.
        wake_ts: Capture time of the last wake word heard (audio clock), if any.
        history_unread: The history grew since the LLM last read it ahead.
        question_read: The utterance and words last sent to the LLM to read ahead.
    """

    satellite: str
    live_mode: bool = False
    phase: ConversationPhase = "idle"
    since: float = field(default_factory=time.time)
    reply_id: str | None = None
    window_until: float | None = None
    wake_ts: float | None = None
    history_unread: bool = False
    question_read: tuple[str, str] | None = None

    def move(self, phase: ConversationPhase, reply_id: str | None = None) -> bool:
        """Change phase; returns whether anything changed (so the caller publishes state).

        Raises:
            InvalidTransition: the machine does not allow ``phase`` from the current one.
        """
        if phase == self.phase and reply_id == self.reply_id:
            return False
        if phase != self.phase and phase not in _ALLOWED[self.phase]:
            raise InvalidTransition(f"{self.satellite}: {self.phase} -> {phase}")
        self.phase, self.reply_id, self.since = phase, reply_id, time.time()
        return True

    @property
    def busy(self) -> bool:
        """A reply is being prepared or spoken."""
        return self.phase in ("thinking", "speaking")

    def open_window(self, now: float, length_s: float) -> None:
        """Accept transcripts without a wake word until ``now + length_s`` (never shortens)."""
        if length_s <= 0:
            return
        until = now + length_s
        self.window_until = until if self.window_until is None else max(until, self.window_until)

    def extend_window(self, now: float, length_s: float) -> None:
        """Speech is still arriving: keep an *open* window open at least ``length_s`` more."""
        if self.window_open(now):
            self.open_window(now, length_s)

    def close_window(self) -> None:
        """Close the wake/follow-up window (windows are single-shot)."""
        self.window_until = None

    def window_open(self, now: float) -> bool:
        """Whether a wake or follow-up window is open at ``now``."""
        return self.window_until is not None and now < self.window_until

    def accepts(
        self, now: float, *, typed: bool, has_wake_phrase: bool, gated: bool = False
    ) -> bool:
        """Whether a final transcript is addressed to TARS.

        Args:
            now: Monotonic time.
            typed: Typed text (always addressed).
            has_wake_phrase: The transcript starts with a wake phrase.
            gated: stt heard it in one of its listening windows (``heard_in`` is set).
        """
        return typed or gated or self.live_mode or has_wake_phrase or self.window_open(now)

    def expire(self, now: float) -> bool:
        """Close an expired window; True when the satellite went back to idle."""
        if self.window_until is None or now < self.window_until:
            return False
        self.window_until = None
        return self.phase == "listening" and self.move("idle")
