"""A simulated room for duplex tests and benches: a speaker, an echo path and a user.

These machines have no sound card, so the room stands in for one: it is both the satellite's
microphone (an `AudioSource` the mic service reads, at real-time pace) and its loudspeaker
(an `AudioOutput`: every frame it drains 20 ms from the mic service's `PlayoutBuffer` and
records it in the `FarEnd`, as a sound card's output callback does). What the speaker
plays comes back into the microphone delayed (``echo_delay_ms``, 40-150 ms in the benches),
reverberated by a generated impulse response (a direct path and an exponentially decaying
noise tail with the room's RT60) and scaled (``echo_gain``: above 1 the echo is louder than
the voice that played it), mixed with the user's speech (`say`) and optional white noise.

From the microphone frames on, everything is the real device path: the mic service cancels
the echo with the reference the "speaker" recorded and publishes the cleaned frames.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import numpy as np
import numpy.typing as npt

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.services.mic.playback import PlayoutBuffer
from tars.services.mic.reference import FarEnd
from tars.services.mic.sources import AudioFrame, frame_samples_for

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoomConfig:
    """The acoustics of the simulated room."""

    echo_delay_ms: float = 90.0
    """Speaker-to-microphone delay (air, converters, buffers), in ms."""
    echo_gain: float = 1.0
    """Echo level relative to what the speaker played (1: as loud, 2: +6 dB)."""
    rt60_s: float = 0.3
    """Reverberation time of the impulse response, in seconds."""
    direct_ratio: float = 0.6
    """Share of the echo energy in the direct path (the rest is reverberation)."""
    noise_rms: float = 0.0
    """White background noise at the microphone, in s16 units (0: none)."""
    seed: int = 7
    """Seed of the impulse response and the noise."""


def impulse_response(config: RoomConfig) -> FloatArray:
    """A room impulse response of unit energy: direct path, then a decaying noise tail."""
    rng = np.random.default_rng(config.seed)
    length = max(1, round(config.rt60_s * SAMPLE_RATE))
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / max(config.rt60_s, 1e-3))
    tail[0] = 0.0
    tail *= np.sqrt((1 - config.direct_ratio) / max(float(np.sum(tail * tail)), 1e-12))
    response = tail
    response[0] = np.sqrt(config.direct_ratio)
    return response


def _future() -> asyncio.Future[float]:
    return asyncio.get_running_loop().create_future()


@dataclass
class Utterance:
    """A clip the user says into the room, and when it was heard."""

    samples: Int16Array
    gain: float = 1.0
    onset: int = 0
    """Sample of the clip where its first syllable begins."""
    started: asyncio.Future[float] = field(default_factory=_future)
    """Capture time (the room's clock, Unix seconds) of the clip's first sample."""
    onset_at: asyncio.Future[float] = field(default_factory=_future)
    """Wall-clock time the frame holding the first syllable left the room. On a loaded
    machine the room can fall behind its own clock; this is when the user really spoke."""
    offset: int = 0


class SimulatedRoom:
    """The satellite's microphone and loudspeaker in one simulated room (see module doc)."""

    def __init__(
        self,
        config: RoomConfig,
        playout: PlayoutBuffer,
        far_end: FarEnd,
        *,
        frame_ms: int = 20,
    ) -> None:
        """Build the room around the mic service's playout buffer and far-end timeline."""
        self.config = config
        self.playout = playout
        self.far_end = far_end
        self._frame = frame_samples_for(frame_ms)
        self._frame_s = self._frame / SAMPLE_RATE
        self._rng = np.random.default_rng(config.seed + 1)
        self._set_path(config)
        self._user: deque[Utterance] = deque()
        self._seq = 0
        self._start_mono = 0.0
        self._start_wall = 0.0
        self._open = False
        self.speaker_s = 0.0
        """Seconds of non-silent audio the speaker played."""
        self._ticked = asyncio.Event()
        self.max_lag_s = 0.0
        """Longest the room fell behind real time (an overloaded machine), in seconds."""

    @property
    def frame_samples(self) -> int:
        """Samples per microphone frame."""
        return self._frame

    async def speaker_played(self, seconds: float) -> None:
        """Wait until the speaker has played ``seconds`` more of non-silent audio."""
        target = self.speaker_s + seconds
        while self.speaker_s < target:
            self._ticked.clear()
            await self._ticked.wait()

    def reconfigure(self, config: RoomConfig) -> None:
        """Change delay, gain, reverberation or noise from the next frame on."""
        self.config = config
        self._set_path(config)

    def say(self, samples: Int16Array, gain: float = 1.0, onset_s: float = 0.0) -> Utterance:
        """Queue user speech (first syllable ``onset_s`` into it); see `Utterance`."""
        utterance = Utterance(samples, gain, round(onset_s * SAMPLE_RATE))
        self._user.append(utterance)
        return utterance

    # -- AudioOutput (the speaker is driven by the microphone clock) ---------------------------
    async def __aenter__(self) -> Self:
        """Start the room's clock (used both as output and as source; opening twice is fine)."""
        if not self._open:
            self._open = True
            self._seq = 0
            self._start_mono, self._start_wall = time.monotonic(), time.time()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the room."""
        self._open = False

    # -- AudioSource -------------------------------------------------------------------------
    def __aiter__(self) -> Self:
        """Return the room itself."""
        return self

    async def __anext__(self) -> AudioFrame:
        """The next microphone frame, at real-time pace."""
        if not self._open:
            raise StopAsyncIteration
        seq = self._seq
        self._seq += 1
        delay = self._start_mono + (seq + 1) * self._frame_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        ts = self._start_wall + seq * self._frame_s
        self.max_lag_s = max(self.max_lag_s, -delay)
        frame = AudioFrame(samples=self._mix(ts), ts=ts, seq=seq)
        self._ticked.set()
        return frame

    # -- mixing ------------------------------------------------------------------------------
    def _set_path(self, config: RoomConfig) -> None:
        self._response = impulse_response(config) * config.echo_gain
        delay = round(config.echo_delay_ms * SAMPLE_RATE / 1000)
        self._line: FloatArray = np.zeros(delay + len(self._response) + self._frame)
        self._delay = delay

    def _mix(self, ts: float) -> Int16Array:
        played = self.playout.pull(self._frame)
        self.far_end.played(played, ts)
        if np.any(played):
            self.speaker_s += self._frame_s
        mic = self._echo(played) + self._speech(ts)
        if self.config.noise_rms > 0:
            mic += self._rng.standard_normal(self._frame) * self.config.noise_rms
        return np.clip(np.round(mic), -32768, 32767).astype(np.int16)

    def _echo(self, played: Int16Array) -> FloatArray:
        # Overlap-add into a delay line: slot 0 is what reaches the microphone now.
        n = self._frame
        convolved = np.convolve(played.astype(np.float64), self._response)
        line = self._line
        line[self._delay : self._delay + convolved.size] += convolved
        out = line[:n].copy()
        line[:-n] = line[n:]
        line[-n:] = 0.0
        return out

    def _speech(self, ts: float) -> FloatArray:
        out = np.zeros(self._frame)
        filled = 0
        while filled < self._frame and self._user:
            utterance = self._user[0]
            if utterance.offset == 0 and not utterance.started.done():
                utterance.started.set_result(ts + filled / SAMPLE_RATE)
            take = min(self._frame - filled, utterance.samples.size - utterance.offset)
            if not utterance.onset_at.done() and utterance.offset + take > utterance.onset:
                utterance.onset_at.set_result(time.time())
            piece = utterance.samples[utterance.offset : utterance.offset + take]
            out[filled : filled + take] = piece.astype(np.float64) * utterance.gain
            utterance.offset += take
            filled += take
            if utterance.offset >= utterance.samples.size:
                self._user.popleft()
        return out
