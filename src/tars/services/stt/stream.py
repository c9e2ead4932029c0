"""One satellite's audio stream in the stt service: its segmenter, gate and turn memory.

The service keeps one `SatelliteStream` per satellite. Frames go through `feed` in a worker
thread (the segmenter runs the VAD); everything else in here is plain state the service's
handlers read and update on the event loop.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.contracts.stt import ListenReason
from tars.runtime.bus import RawMessage
from tars.services.stt.endpoint import (
    PartialDue,
    SegmenterEvent,
    UtteranceEnded,
    UtteranceSegmenter,
)
from tars.services.stt.filters import RecentTexts
from tars.services.stt.session import Gate, TimeMap, Window
from tars.services.stt.transcriber import Transcript
from tars.services.stt.turn import TurnDecision

Frame = tuple[Int16Array, float, bool]
"""Samples of one audio frame, the capture time of its first sample, and whether the
satellite's own (echo-cancelled) speaker played during it (double talk if anyone speaks)."""

MAX_JOINED_S = 30.0
"""Longest audio of a turn joined from continuations, in seconds (Whisper's window)."""


@dataclass
class PauseTranscript:
    """A pause partial's transcript and turn decision, reusable as the final."""

    speech_end_s: float
    cut_ts: float | None
    transcript: Transcript
    text: str
    turn: TurnDecision


@dataclass
class HeldUtterance:
    """An utterance heard outside every window, kept briefly for a late wake event."""

    event: UtteranceEnded
    start_ts: float
    end_ts: float
    audio_start_ts: float
    until: float


@dataclass(frozen=True)
class SpokenTurn:
    """The last final published on a satellite: what a continuation joins onto."""

    utt_id: str
    text: str
    audio: Int16Array
    """The audio the final was transcribed from (wake word cut off)."""
    speech_start_ts: float
    speech_end_s: float
    """Stream time the speech ended, in seconds (continuations are timed in stream time)."""
    heard_in: ListenReason


@dataclass
class SatelliteStream:
    """One satellite's audio state."""

    satellite: str
    segmenter: UtteranceSegmenter
    gate: Gate
    times: TimeMap = field(default_factory=TimeMap)
    utt_id: str = ""
    speech_start_s: float = 0.0
    last_partial: str = ""
    pause: PauseTranscript | None = None
    held: list[HeldUtterance] = field(default_factory=list)
    published: RecentTexts = field(default_factory=RecentTexts)
    last_turn: SpokenTurn | None = None
    continuing: SpokenTurn | None = None
    """The final the utterance in progress continues, if it started soon enough after it."""
    voice_window: Window | None = None
    """The window the utterance in progress opened by talking over a reply, if it did."""

    def start_utterance(self, utt_id: str, start_s: float, window_s: float) -> SpokenTurn | None:
        """Speech started: reset per-utterance state; returns the turn it continues, if any."""
        self.utt_id, self.speech_start_s = utt_id, start_s
        self.last_partial, self.pause = "", None
        last = self.last_turn
        gap = start_s - last.speech_end_s if last is not None else None
        self.continuing = last if gap is not None and 0 <= gap <= window_s else None
        return self.continuing

    def joined(self, audio: Int16Array) -> Int16Array:
        """``audio`` after the audio of the turn it continues (itself when not continuing)."""
        if self.continuing is None:
            return audio
        joined = np.concatenate((self.continuing.audio, audio))
        return np.asarray(joined[-int(MAX_JOINED_S * SAMPLE_RATE) :], dtype=np.int16)


def feed(stream: SatelliteStream, frames: list[Frame]) -> tuple[list[SegmenterEvent], int]:
    """Run the segmenter over frames (worker thread); stop after a pause partial.

    Stopping there lets the service decide the end of turn at that pause (transcript and
    turn model) and set the hangover before the following audio is segmented.
    """
    events: list[SegmenterEvent] = []
    for used, (samples, ts, over_speaker) in enumerate(frames, start=1):
        stream.times.add(ts, samples.size)
        produced = stream.segmenter.feed(samples, double_talk=over_speaker)
        events.extend(produced)
        if any(isinstance(e, PartialDue) and e.reason == "pause" for e in produced):
            return events, used
    return events, len(frames)


def frame_ts(message: RawMessage, samples: int) -> float:
    """Capture time of a frame's first sample: its ``ts`` property, else arrival time."""
    raw = message.properties.get("ts")
    if raw is not None:
        with contextlib.suppress(ValueError):
            return float(raw)
    return time.time() - samples / SAMPLE_RATE
