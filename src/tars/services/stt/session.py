"""Per-satellite listening state of the stt service: time mapping and gating windows.

Gating is decided in *audio* time (the ``ts`` capture timestamps of the frames, which the
wake service also uses for its events), never in arrival time: the VAD runs on every
frame whether or not the gate is open, and each finished utterance is then checked against
the listening windows that cover it. So an utterance that starts before the wake event
reaches us ("okay nabu, what time is it" in one breath) is still taken, from the end of the
wake word on, and audio streamed faster than real time gates the same way.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array

WindowKind = Literal["wake", "interrupt", "followup"]

WAKE_SPAN_S = 2.5
"""How far before the end of a wake word its utterance may start, in seconds."""
WAKE_ONLY_S = 0.25
"""Speech ending less than this after the wake word is the wake word itself, in seconds."""
_MAX_ANCHORS = 4096


class TimeMap:
    """Maps stream time (seconds of audio fed) to wall-clock capture time and back."""

    def __init__(self) -> None:
        self._stream: list[float] = []
        self._wall: list[float] = []
        self._samples = 0

    @property
    def stream_s(self) -> float:
        """Seconds of audio recorded so far."""
        return self._samples / SAMPLE_RATE

    def add(self, ts: float, samples: int) -> None:
        """Record a frame of ``samples`` whose first sample was captured at ``ts``."""
        self._stream.append(self._samples / SAMPLE_RATE)
        self._wall.append(ts)
        self._samples += samples
        if len(self._stream) > _MAX_ANCHORS:
            keep = _MAX_ANCHORS // 2
            self._stream, self._wall = self._stream[-keep:], self._wall[-keep:]

    def wall(self, stream_s: float) -> float:
        """Capture time of stream time ``stream_s`` (extrapolated from the nearest frame)."""
        if not self._stream:
            return stream_s
        index = max(0, bisect.bisect_right(self._stream, stream_s) - 1)
        return self._wall[index] + (stream_s - self._stream[index])


@dataclass
class Window:
    """A span of audio time during which an utterance may start."""

    kind: WindowKind
    start_ts: float
    end_ts: float
    cut_ts: float | None = None
    """End of the wake word: audio before it is dropped from the utterance."""
    voice: bool = False
    """Opened by the user talking over a reply (voice barge-in), not by a wake word."""


@dataclass(frozen=True)
class Decision:
    """Whether an utterance is transcribed, and from where."""

    accepted: bool
    reason: str
    window: Window | None = None
    cut_ts: float | None = None


@dataclass
class Gate:
    """The listening windows and mute state of one satellite."""

    live: bool = False
    tts_speaking: bool = False
    echo_cancelled: bool = False
    """The satellite's frames come echo-cancelled (``aec`` property): it hears over TTS."""
    windows: list[Window] = field(default_factory=list)

    def open(self, window: Window) -> None:
        """Add a window (older ones that ended long ago are forgotten)."""
        self.windows = [w for w in self.windows if w.end_ts > window.start_ts - 60.0]
        self.windows.append(window)

    def at_rest(self, now: float) -> bool:
        """Nothing to remember: no window still open at ``now`` and TTS silent."""
        return not self.tts_speaking and all(w.end_ts < now for w in self.windows)

    def consume(self, window: Window | None) -> None:
        """Close a window after a transcript was published from it (one turn per window)."""
        if window is not None and window in self.windows:
            self.windows.remove(window)

    def decide(self, start_ts: float, end_ts: float) -> Decision:
        """Check an utterance spanning ``start_ts``..``end_ts`` (audio time) against the gate."""
        for window in reversed(self.windows):
            if window.kind == "followup" or not _overlaps(window, start_ts, end_ts):
                continue
            cut = window.cut_ts
            if cut is not None and end_ts <= cut + WAKE_ONLY_S:
                return Decision(False, "wake_word_only", window)
            cut_ts = cut if cut is not None and cut > start_ts else None
            return Decision(True, window.kind, window, cut_ts)
        if self.tts_speaking:
            return Decision(False, "muted_tts")
        if self.live:
            return Decision(True, "live")
        for window in reversed(self.windows):
            if window.kind == "followup" and _overlaps(window, start_ts, end_ts):
                return Decision(True, "followup", window)
        return Decision(False, "not_listening")


def _overlaps(window: Window, start_ts: float, end_ts: float) -> bool:
    return start_ts <= window.end_ts and end_ts >= window.start_ts


def cut_audio(
    samples: Int16Array, audio_start_ts: float, cut_ts: float | None, margin_s: float
) -> Int16Array:
    """Drop the audio before ``cut_ts - margin_s`` (the wake word) from an utterance.

    The margin keeps a request said in the same breath as the wake word whole, but when the
    user paused after the wake word it also keeps the wake word's last syllable, which
    Whisper then merges into the first word ("...bu. Stop." came back as "start"). So a
    pause that begins inside the margin, before the wake word was detected, moves the cut
    to that pause.
    """
    if cut_ts is None:
        return samples
    first = round((cut_ts - margin_s - audio_start_ts) * SAMPLE_RATE)
    if first <= 0:
        return samples
    first = _after_pause(samples, first, reach=round(margin_s * SAMPLE_RATE))
    return np.asarray(samples[first:], dtype=np.int16)


_FRAME = SAMPLE_RATE // 50
"""20 ms frames for the pause search."""
_PAUSE_FRAMES = 4
"""A pause is at least this many quiet frames (80 ms): shorter dips occur inside words."""
_QUIET_RATIO = 0.1
"""A frame is quiet below this share of the utterance's typical voiced level."""


def _after_pause(samples: Int16Array, first: int, reach: int) -> int:
    """Where a pause that begins in ``samples[first:first + reach]`` begins.

    The cut goes to the start of the pause, not to the speech after it: the first sound of
    a request may be as soft as the pause itself ("s" in "say"). Returns ``first`` unchanged
    when no pause begins there (the request ran on from the wake word).
    """
    count = samples.size // _FRAME
    if count == 0 or first >= samples.size:
        return first
    levels = np.abs(samples[: count * _FRAME].astype(np.float32)).reshape(count, _FRAME).mean(1)
    voiced = levels[levels > levels.max() * _QUIET_RATIO]
    if voiced.size == 0:
        return first  # digital silence
    quiet = levels < float(np.median(voiced)) * _QUIET_RATIO
    start, stop = first // _FRAME, min(count, (first + reach) // _FRAME + 1)
    for begin in range(start, stop):
        if quiet[begin : begin + _PAUSE_FRAMES].all() and begin + _PAUSE_FRAMES <= count:
            return max(first, begin * _FRAME)
    return first
