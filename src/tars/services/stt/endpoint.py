"""Utterance segmentation: start of speech, partial points, end of speech.

`UtteranceSegmenter` is pure Python with no I/O and no clock: time is the
position in the audio stream (seconds since the stream or the last `reset`),
so the service maps it to wall-clock time with the capture timestamp of the
frames it feeds. It owns a `VoiceActivityDetector`, buffers frames of any size
into the detector's windows and turns the per-window speech probabilities into
events:

* `SpeechStarted` once enough speech has been heard (a short pre-roll of audio
  before that point is kept so the first syllable is not cut);
* `PartialDue` every partial interval while speaking (``reason="interval"``)
  and once at the first short pause (``reason="pause"``), carrying the audio
  so far, so the service can transcribe while the user is still talking;
* `UtteranceEnded` after a hangover of non-speech, at the maximum length, or
  on `flush`.

End of turn is smarter than a fixed hangover through `set_hangover_ms`. The
intended recipe for the service: transcribe each ``pause`` partial at once; if
its text reads as a finished request (`tars.text.finished.looks_complete`),
shorten the hangover of the current utterance; when the utterance then ends
with the same ``speech_end_s`` as that partial, publish the partial's
transcript as the final one instead of transcribing again. Interval partials
are for display only: mid-sentence Whisper often writes "Turn on the kitchen."

`feed` runs the VAD, so it is CPU work: call it off the event loop.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, rms
from tars.services.stt.noise import NoiseFloor, NoiseFloorConfig
from tars.services.stt.vad import VoiceActivityDetector, WindowBuffer


@dataclass(frozen=True)
class SegmenterConfig:
    """Segmentation thresholds and timings."""

    threshold: float = 0.5
    """Speech probability at which a window counts as speech (0-1)."""
    release_threshold: float = 0.35
    """Probability under which a window counts as non-speech once speaking (hysteresis)."""
    min_speech_ms: int = 160
    """Speech needed before `SpeechStarted`; shorter blips are dropped, in ms."""
    pre_roll_ms: int = 320
    """Audio kept from before the detected start, in ms."""
    hangover_ms: int = 600
    """Non-speech that ends an utterance unless shortened by the service, in ms."""
    tail_ms: int = 200
    """Trailing non-speech kept at the end of the utterance audio, in ms."""
    max_utterance_s: float = 15.0
    """Longest utterance before it is cut, in seconds."""
    partial_interval_ms: int = 600
    """Spacing of interval partials while speaking, in ms (py-tars PARTIAL_INTERVAL_MS)."""
    partial_min_ms: int = 500
    """Audio needed before the first partial, in ms (py-tars PARTIAL_MIN_DURATION_MS)."""
    pause_partial_ms: int = 160
    """Non-speech after speech that triggers a ``pause`` partial, in ms (0 disables)."""
    noise_gate: NoiseFloorConfig | None = field(default_factory=NoiseFloorConfig)
    """Noise-floor pre-gate on the start of speech; None disables it."""
    double_talk_threshold: float = 0.3
    """Start threshold while the satellite's own speaker plays under echo cancelling (0-1).

    The canceller's suppressor damages the user's voice during double talk: "stop" said over
    a reply louder than the user scored 0.1-0.3 where the same word alone scores 0.9, while
    the cancelled echo alone stayed under 0.1.
    """
    double_talk_min_speech_ms: int = 96
    """Speech needed before `SpeechStarted` during double talk, in ms."""
    residue_gate: NoiseFloorConfig | None = field(
        default_factory=lambda: NoiseFloorConfig(calibration_s=1.0, alpha=0.05, multiplier=4.0)
    )
    """Level gate on the start of speech during double talk, from the echo residue (the
    cancelled signal while the speaker plays and nobody speaks); None disables it."""


@dataclass(frozen=True)
class SpeechStarted:
    """Speech was confirmed."""

    start_s: float
    """Stream time of the first speech window, in seconds."""


@dataclass(frozen=True, eq=False)
class PartialDue:
    """Time to transcribe the utterance so far."""

    samples: Int16Array
    """The utterance audio so far, pre-roll included."""
    reason: Literal["interval", "pause"]
    """``interval`` while speaking, ``pause`` at the first short silence."""
    speech_end_s: float
    """Stream time of the end of the last speech window in ``samples``, in seconds.

    When a later `UtteranceEnded` has the same ``speech_end_s``, no speech came
    after this partial and its transcript can stand as the final one.
    """
    audio_start_s: float = 0.0
    """Stream time of the first sample of ``samples`` (pre-roll included), in seconds."""


@dataclass(frozen=True, eq=False)
class UtteranceEnded:
    """An utterance is complete."""

    samples: Int16Array
    """Pre-roll, speech and up to ``tail_ms`` of trailing non-speech."""
    speech_start_s: float
    """Stream time of the first speech window, in seconds."""
    speech_end_s: float
    """Stream time of the end of the last speech window, in seconds."""
    active_ratio: float
    """Fraction of windows between start and the end of ``samples`` that were speech."""
    rms: float
    """RMS of the speech windows only, in s16 units."""
    reason: Literal["silence", "max_length", "flush"]
    """Why the utterance ended."""
    audio_start_s: float = 0.0
    """Stream time of the first sample of ``samples`` (pre-roll included), in seconds."""


SegmenterEvent = SpeechStarted | PartialDue | UtteranceEnded
"""Any event the segmenter emits."""


@dataclass
class _Utterance:
    """Windows of the utterance in progress (pre-roll first)."""

    pre_roll: list[Int16Array]
    start_index: int
    windows: list[Int16Array] = field(default_factory=list)
    voiced: list[bool] = field(default_factory=list)
    last_voiced: int = -1
    silence_run: int = 0
    confirmed: bool = False
    samples_at_partial: int = 0
    pause_partial_sent: bool = False

    @property
    def speech_windows(self) -> int:
        return sum(self.voiced)

    def audio(self, upto: int | None = None) -> Int16Array:
        parts = self.pre_roll + self.windows[:upto]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(parts)


class UtteranceSegmenter:
    """Turns a stream of 16 kHz int16 frames into utterance events.

    Args:
        vad: The detector; owned by the segmenter from now on.
        config: Thresholds and timings.
    """

    def __init__(self, vad: VoiceActivityDetector, config: SegmenterConfig | None = None) -> None:
        self._vad = vad
        self._config = config or SegmenterConfig()
        self._window = vad.window_samples
        self._window_s = self._window / SAMPLE_RATE
        self._buffer = WindowBuffer(self._window)
        self._noise = NoiseFloor(self._config.noise_gate) if self._config.noise_gate else None
        residue = self._config.residue_gate
        self._residue = NoiseFloor(residue) if residue else None
        self._pre_roll: deque[Int16Array] = deque(maxlen=self._windows(self._config.pre_roll_ms))
        self._index = 0
        self._current: _Utterance | None = None
        self._hangover_ms = float(self._config.hangover_ms)
        self._double_talk = False

    @property
    def speaking(self) -> bool:
        """True between `SpeechStarted` and `UtteranceEnded`."""
        return self._current is not None and self._current.confirmed

    @property
    def stream_time_s(self) -> float:
        """Seconds of audio processed into whole windows since the start or `reset`."""
        return self._index * self._window_s

    @property
    def noise_floor(self) -> NoiseFloor | None:
        """The noise-floor tracker, when the gate is enabled."""
        return self._noise

    def set_hangover_ms(self, hangover_ms: float | None) -> None:
        """Change the hangover of the current utterance (None restores the default).

        The override lasts until the utterance ends. A value already exceeded by
        the current silence ends the utterance at the next non-speech window.
        """
        self._hangover_ms = float(self._config.hangover_ms if hangover_ms is None else hangover_ms)

    def feed(self, samples: Int16Array, *, double_talk: bool = False) -> list[SegmenterEvent]:
        """Process a frame of any length and return the events it caused, in order.

        ``double_talk``: the satellite's own speaker played during the frame and its echo
        was cancelled; speech starts on the (lower) double-talk threshold and duration.
        """
        self._double_talk = double_talk
        events: list[SegmenterEvent] = []
        for window in self._buffer.push(samples):
            probabilities = self._vad.feed(window)
            probability = probabilities[-1] if probabilities else 0.0
            events.extend(self._step(window, probability))
            self._index += 1
        return events

    def flush(self) -> list[SegmenterEvent]:
        """End the utterance in progress now (mute, end of stream); drop an unconfirmed one."""
        current = self._current
        if current is None or not current.confirmed:
            self._drop_candidate()
            return []
        return [self._finish(current, "flush")]

    def reset(self) -> None:
        """Forget everything, including the VAD state and the noise floor."""
        self._vad.reset()
        self._buffer.clear()
        self._pre_roll.clear()
        self._current = None
        self._index = 0
        self._hangover_ms = float(self._config.hangover_ms)
        if self._noise is not None:
            self._noise.reset()
        if self._residue is not None:
            self._residue.reset()

    def _windows(self, milliseconds: float) -> int:
        return max(0, math.ceil(milliseconds / 1000.0 / self._window_s))

    def _is_speech(self, window: Int16Array, probability: float) -> bool:
        window_rms = rms(window)
        if self._current is not None and self._current.confirmed:
            speech = probability >= self._config.release_threshold
        else:
            config = self._config
            threshold = config.double_talk_threshold if self._double_talk else config.threshold
            speech = probability >= threshold and window_rms >= self._gate()
        if not speech:
            # Echo residue is measured apart from the room's noise: it comes and goes with
            # the speaker, and would otherwise raise the gate for speech between replies.
            floor = self._residue if self._double_talk else self._noise
            if floor is not None:
                floor.observe(window_rms, self._window_s)
        return speech

    def _gate(self) -> float:
        """RMS a window needs to open an utterance (0: no gate)."""
        gate = self._noise.gate if self._noise is not None else 0.0
        if self._double_talk and self._residue is not None:
            gate = max(gate, self._residue.gate)
        return gate

    def _step(self, window: Int16Array, probability: float) -> list[SegmenterEvent]:
        speech = self._is_speech(window, probability)
        current = self._current
        if current is None:
            if not speech:
                self._pre_roll.append(window)
                return []
            current = _Utterance(pre_roll=list(self._pre_roll), start_index=self._index)
            self._pre_roll.clear()
            self._current = current
        current.windows.append(window)
        current.voiced.append(speech)
        if speech:
            current.last_voiced = len(current.windows) - 1
            current.silence_run = 0
            current.pause_partial_sent = False
        else:
            current.silence_run += 1
        if not current.confirmed:
            return self._step_candidate(current)
        return self._step_speaking(current)

    def _step_candidate(self, current: _Utterance) -> list[SegmenterEvent]:
        config = self._config
        needed = self._windows(
            config.double_talk_min_speech_ms if self._double_talk else config.min_speech_ms
        )
        if current.speech_windows >= needed:
            current.confirmed = True
            return [SpeechStarted(start_s=current.start_index * self._window_s)]
        # A gap as long as the speech still needed means this was a blip.
        if current.silence_run >= needed:
            self._drop_candidate()
        return []

    def _step_speaking(self, current: _Utterance) -> list[SegmenterEvent]:
        config = self._config
        duration_s = len(current.windows) * self._window_s
        if current.silence_run > 0 and current.silence_run >= self._windows(self._hangover_ms):
            return [self._finish(current, "silence")]
        if duration_s >= config.max_utterance_s:
            return [self._finish(current, "max_length")]
        pause_windows = self._windows(config.pause_partial_ms)
        if (
            pause_windows
            and current.silence_run == pause_windows
            and not current.pause_partial_sent
        ):
            current.pause_partial_sent = True
            return [self._partial(current, "pause")]
        if current.silence_run > 0:
            # Interval partials only while speech is actually coming in.
            return []
        audio_samples = (len(current.pre_roll) + len(current.windows)) * self._window
        if audio_samples < config.partial_min_ms * SAMPLE_RATE // 1000:
            return []
        since_last = audio_samples - current.samples_at_partial
        if current.samples_at_partial == 0 or since_last >= (
            config.partial_interval_ms * SAMPLE_RATE // 1000
        ):
            return [self._partial(current, "interval")]
        return []

    def _partial(self, current: _Utterance, reason: Literal["interval", "pause"]) -> PartialDue:
        audio = current.audio()
        current.samples_at_partial = int(audio.size)
        return PartialDue(
            samples=audio,
            reason=reason,
            speech_end_s=self._speech_end_s(current),
            audio_start_s=self._audio_start_s(current),
        )

    def _finish(
        self, current: _Utterance, reason: Literal["silence", "max_length", "flush"]
    ) -> UtteranceEnded:
        keep = min(
            len(current.windows), current.last_voiced + 1 + self._windows(self._config.tail_ms)
        )
        voiced = [
            w for w, v in zip(current.windows[:keep], current.voiced[:keep], strict=True) if v
        ]
        speech_audio = np.concatenate(voiced) if voiced else np.zeros(0, dtype=np.int16)
        event = UtteranceEnded(
            samples=current.audio(keep),
            speech_start_s=current.start_index * self._window_s,
            speech_end_s=self._speech_end_s(current),
            active_ratio=len(voiced) / keep if keep else 0.0,
            rms=rms(speech_audio),
            reason=reason,
            audio_start_s=self._audio_start_s(current),
        )
        # The last windows seed the next pre-roll, so speech that runs on past a
        # max-length cut keeps its context.
        self._pre_roll.clear()
        self._pre_roll.extend(current.windows[-(self._pre_roll.maxlen or 0) :])
        self._current = None
        self._hangover_ms = float(self._config.hangover_ms)
        return event

    def _audio_start_s(self, current: _Utterance) -> float:
        return (current.start_index - len(current.pre_roll)) * self._window_s

    def _speech_end_s(self, current: _Utterance) -> float:
        return (current.start_index + current.last_voiced + 1) * self._window_s

    def _drop_candidate(self) -> None:
        current = self._current
        self._current = None
        if current is not None:
            # A false start is background: it stays available as pre-roll.
            for window in current.windows:
                self._pre_roll.append(window)
