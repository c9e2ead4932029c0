"""Barge-in state machine for one satellite: pure logic, no I/O and no timers of its own.

The service feeds it TTS status, detections, speech activity, final transcripts and clock
ticks, each with the current time (any monotonic seconds), and carries out the actions it
returns in order. `BargeIn.next_deadline` says when the next tick is due, so the service can
sleep exactly that long instead of polling.

Rules:
    * detection while TTS is idle: wake, open the mic, and start the idle timer; silence
      until it expires gives a timeout event;
    * detection while TTS speaks (or is paused): interrupt, pause that reply, open the mic and
      start the interrupt window; speech activity extends the window (up to a hard cap);
    * a final transcript during the window that is a cancel phrase: stop the reply, cancelled;
    * any other final transcript during the window: stop the reply, new turn (the user is
      asking something else, so the old reply is dropped);
    * window expiry without a transcript: resume the reply, resume event;
    * speech over a reply on an echo-cancelled satellite (voice barge-in, from stt): the same
      interrupt as a detection, without the wake word; if stt then rejects what it heard (a
      backchannel such as "mm-hm", a cough, echo residue) the reply resumes at once, and a
      wake word said meanwhile turns it into an ordinary wake-word interrupt.

Invariant: a reply this machine paused always ends in resume, stop or a new turn (or TTS
reports it ended); it is never left paused, because an interrupt always holds a deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from tars.contracts.stt import VOICE_CAUSE
from tars.services.wake.detector import Detection

TtsState = Literal["speaking", "paused", "idle"]
"""What TTS last reported: playing a reply, paused, or not playing anything."""

DEFAULT_CANCEL_PHRASES = (
    "stop",
    "stop it",
    "stop that",
    "cancel",
    "cancel it",
    "cancel that",
    "cancel please",
    "never mind",
    "nevermind",
    "shut up",
    "be quiet",
)
"""Transcripts that cancel an interrupted reply (py-tars's list plus "shut up", "be quiet")."""

# Words people (or Whisper, hearing the tail of the wake word) wrap around a cancel phrase.
_FILLER = frozenset(
    ("ok", "okay", "hey", "oh", "please", "just", "now", "tars", "nabu", "jarvis", "alexa")
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


class Phase(StrEnum):
    """Where one satellite's barge-in machine is."""

    IDLE = "idle"
    LISTENING = "listening"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class EmitWake:
    """Publish a wake event (the user woke the assistant while TTS was idle)."""

    detection: Detection | None = None
    cause: str = "wake_phrase"


@dataclass(frozen=True, slots=True)
class EmitInterrupt:
    """Publish an interrupt event: the wake word was heard while a reply was playing."""

    tts_id: str | None
    detection: Detection | None = None
    cause: str = "double_wake"


@dataclass(frozen=True, slots=True)
class OpenMic:
    """Tell listeners to take speech for the next ``ttl_s`` seconds."""

    ttl_s: float


@dataclass(frozen=True, slots=True)
class TtsPause:
    """Ask TTS to pause reply ``tts_id``."""

    tts_id: str | None
    reason: str = "wake_interrupt"


@dataclass(frozen=True, slots=True)
class TtsResume:
    """Ask TTS to resume reply ``tts_id``."""

    tts_id: str | None


@dataclass(frozen=True, slots=True)
class TtsStop:
    """Ask TTS to stop reply ``tts_id`` and drop the rest of it."""

    tts_id: str | None


@dataclass(frozen=True, slots=True)
class EmitResume:
    """Publish a resume event: the interrupt window passed without speech."""

    tts_id: str | None
    cause: str = "timeout"


@dataclass(frozen=True, slots=True)
class EmitCancelled:
    """Publish a cancelled event: the user said a cancel phrase during the interrupt."""

    tts_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class NewTurn:
    """The user spoke something else during the interrupt: the old reply is dropped."""

    tts_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class EmitTimeout:
    """Publish a timeout event: nobody spoke after a wake."""

    cause: str = "silence"


Action = (
    EmitWake
    | EmitInterrupt
    | OpenMic
    | TtsPause
    | TtsResume
    | TtsStop
    | EmitResume
    | EmitCancelled
    | NewTurn
    | EmitTimeout
)


@dataclass(frozen=True, slots=True)
class BargeInConfig:
    """Timing and phrases of the barge-in machine (all times in seconds)."""

    interrupt_window_s: float = 3.0
    """Time to start speaking after a barge-in before the reply resumes."""
    speech_grace_s: float = 2.0
    """Each sign of speech keeps a window open at least this much longer."""
    max_window_s: float = 15.0
    """Hard cap on a window however long speech goes on (then resume or timeout)."""
    idle_timeout_s: float = 3.0
    """Time to start speaking after a plain wake before a timeout event."""
    cancel_phrases: tuple[str, ...] = field(default=DEFAULT_CANCEL_PHRASES)
    """Transcripts that cancel an interrupted reply."""

    def __post_init__(self) -> None:
        """Reject inconsistent times.

        Raises:
            ValueError: a time is not positive, or the cap is below a window.
        """
        for name in ("interrupt_window_s", "speech_grace_s", "max_window_s", "idle_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.max_window_s < max(self.interrupt_window_s, self.idle_timeout_s):
            raise ValueError("max_window_s must be >= interrupt_window_s and idle_timeout_s")


def normalize_words(text: str) -> list[str]:
    """Lower-case ``text``, drop apostrophes, and split it into words on anything else."""
    lowered = text.lower().replace("\u2019", "").replace("'", "")
    return _NON_WORD.sub(" ", lowered).split()


def cancel_phrase(text: str, phrases: tuple[str, ...] = DEFAULT_CANCEL_PHRASES) -> bool:
    """Tell whether a transcript is nothing but a cancel phrase.

    Matching is on whole words after normalisation: "Stop!", "please stop it",
    "Never-mind." and "stop, stop" cancel; "stop the music", "don't stop" and
    "how do I cancel my order" do not (they are requests of their own).
    """
    words = normalize_words(text)
    while words and words[0] in _FILLER:
        words.pop(0)
    while words and words[-1] in _FILLER:
        words.pop()
    if not words:
        return False
    options = sorted({" ".join(normalize_words(p)) for p in phrases if p.strip()}, key=len)
    if not options:
        return False
    one = "(?:" + "|".join(re.escape(option) for option in reversed(options)) + ")"
    return re.fullmatch(f"{one}(?: {one})*", " ".join(words)) is not None


class BargeIn:
    """The wake/barge-in state machine of one satellite (see the module docstring)."""

    def __init__(self, config: BargeInConfig | None = None) -> None:
        """Start idle, with TTS assumed idle."""
        self._config = config or BargeInConfig()
        self._phase = Phase.IDLE
        self._tts_state: TtsState = "idle"
        self._tts_id: str | None = None
        self._paused_id: str | None = None
        self._deadline: float | None = None
        self._hard_deadline: float | None = None
        self._by_voice = False

    @property
    def phase(self) -> Phase:
        """Current phase."""
        return self._phase

    @property
    def paused_id(self) -> str | None:
        """The reply this machine paused, while an interrupt is open."""
        return self._paused_id if self._phase is Phase.INTERRUPTED else None

    @property
    def at_rest(self) -> bool:
        """No window open and TTS idle: the machine is as good as a new one."""
        return self._phase is Phase.IDLE and self._tts_state == "idle"

    def next_deadline(self) -> float | None:
        """When `on_tick` must next be called, or None when nothing is pending."""
        return self._deadline

    def on_tick(self, now: float) -> list[Action]:
        """Handle the passage of time (expire the open window, if due)."""
        return self._expire(now)

    def on_tts_status(self, state: TtsState, utt_id: str | None, now: float) -> list[Action]:
        """Handle a TTS status report for reply ``utt_id``."""
        actions = self._expire(now)
        self._tts_state, self._tts_id = state, utt_id
        if self._phase is Phase.INTERRUPTED:
            if state == "idle" and utt_id in (None, self._paused_id):
                self._close()  # the paused reply ended some other way: nothing to resume
            elif state != "idle" and utt_id is not None and utt_id != self._paused_id:
                # Another reply plays; the paused one must not linger behind it.
                actions.append(TtsStop(self._paused_id))
                self._close()
            # Same reply "speaking" may be a report sent before our pause: keep the window.
        elif self._phase is Phase.LISTENING and state == "speaking":
            self._close()  # a reply started, so the listening window is over
        return actions

    def on_detection(self, now: float, detection: Detection | None = None) -> list[Action]:
        """Handle a wake-word detection."""
        actions = self._expire(now)
        config = self._config
        if self._phase is Phase.INTERRUPTED:
            self._extend(now + config.interrupt_window_s)
            if self._by_voice:
                # The wake word after talking over the reply: from now on a wake-word
                # interrupt (stt cuts the wake word off; a rejection no longer resumes).
                self._by_voice = False
                actions.append(EmitInterrupt(self._paused_id, detection))
            actions.append(OpenMic(config.interrupt_window_s))
        elif self._tts_state in ("speaking", "paused"):
            self._open(Phase.INTERRUPTED, now, config.interrupt_window_s)
            self._paused_id = self._tts_id
            actions.append(EmitInterrupt(self._tts_id, detection))
            actions.append(TtsPause(self._tts_id))
            actions.append(OpenMic(config.interrupt_window_s))
        else:
            self._open(Phase.LISTENING, now, config.idle_timeout_s)
            actions.append(EmitWake(detection))
            actions.append(OpenMic(config.idle_timeout_s))
        return actions

    def on_voice(self, now: float) -> list[Action]:
        """Handle speech over a reply on an echo-cancelled satellite (a voice barge-in)."""
        actions = self._expire(now)
        config = self._config
        if self._phase is not Phase.IDLE:
            self._extend(now + config.speech_grace_s)
            return actions
        if self._tts_state != "speaking":
            return actions  # nothing plays: an ordinary utterance, stt's windows decide
        self._open(Phase.INTERRUPTED, now, config.interrupt_window_s)
        self._paused_id = self._tts_id
        self._by_voice = True
        actions.append(EmitInterrupt(self._tts_id, None, cause=VOICE_CAUSE))
        actions.append(TtsPause(self._tts_id, reason="voice_barge_in"))
        actions.append(OpenMic(config.interrupt_window_s))
        return actions

    def on_rejected(self, now: float) -> list[Action]:
        """Handle stt rejecting an utterance (backchannel, noise, echo, too short)."""
        actions = self._expire(now)
        if self._phase is Phase.INTERRUPTED and self._by_voice:
            # Talking over the reply turned out not to be a turn: go on at once.
            paused = self._paused_id
            self._close()
            actions += [TtsResume(paused), EmitResume(paused, cause="not_a_turn")]
        return actions

    def on_speech(self, now: float) -> list[Action]:
        """Handle a sign the user is talking (a partial transcript or VAD speech start)."""
        actions = self._expire(now)
        if self._phase is not Phase.IDLE:
            self._extend(now + self._config.speech_grace_s)
        return actions

    def on_transcript(self, text: str, now: float) -> list[Action]:
        """Handle a final transcript."""
        actions = self._expire(now)
        if not normalize_words(text) or self._phase is Phase.IDLE:
            return actions  # a filtered/empty transcript is not an answer; keep waiting
        if self._phase is Phase.INTERRUPTED:
            paused = self._paused_id
            actions.append(TtsStop(paused))
            if cancel_phrase(text, self._config.cancel_phrases):
                actions.append(EmitCancelled(paused, text))
            else:
                actions.append(NewTurn(paused, text))
        self._close()
        return actions

    def _expire(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        if self._phase is Phase.INTERRUPTED:
            paused = self._paused_id
            self._close()
            return [TtsResume(paused), EmitResume(paused)]
        self._close()
        return [EmitTimeout()]

    def _open(self, phase: Phase, now: float, window_s: float) -> None:
        self._phase = phase
        self._deadline = now + window_s
        self._hard_deadline = now + self._config.max_window_s

    def _extend(self, until: float) -> None:
        if self._deadline is None or self._hard_deadline is None:
            return
        self._deadline = min(max(self._deadline, until), self._hard_deadline)

    def _close(self) -> None:
        self._phase = Phase.IDLE
        self._by_voice = False
        self._paused_id = None
        self._deadline = None
        self._hard_deadline = None
