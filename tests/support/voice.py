"""Voice helpers for end-to-end tests: engines, a real-time satellite microphone, the clock check.

The engines are loaded by session fixtures (``tests/e2e/conftest.py``) through the loaders
here, once per test session, and shared by every test and service that needs them: the stt
services transcribe with the same Whisper that hears the replies back (and share one turn
model), and the tts services speak with the same Piper voice that plays the user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import deque
from collections.abc import Iterable
from types import TracebackType

import numpy as np

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_bytes, resample, silence
from tars.contracts.audio import pcm_topic
from tars.runtime.bus import Bus
from tars.services.stt.factory import build_turn_model
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperOptions, WhisperTranscriber
from tars.services.tts.synth import PiperOptions, PiperSynthesizer

FRAME_MS = 20
"""Microphone frame length, as the mic service publishes."""
_FRAME = SAMPLE_RATE * FRAME_MS // 1000

_HOUR_WORDS = (
    "twelve", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
)  # fmt: skip


# -- engines (loaded once per session by fixtures) -------------------------------------------
def load_whisper() -> WhisperTranscriber:
    """Whisper tiny.en as the stt service uses it, warmed up."""
    transcriber = WhisperTranscriber(WhisperOptions(model="tiny.en"))
    transcriber.warm_up()
    return transcriber


def load_turn_model() -> TurnModel | None:
    """The end-of-turn model the default stt settings use (None when they use none)."""
    return build_turn_model(SttSettings())


def load_piper() -> PiperSynthesizer:
    """The bundled Piper voice without random variation, warmed up (the first ONNX run allocates).

    Piper's default voice samples noise, so each call says a text a little differently and a
    test would hear a new input on every run (a rare mishearing became a rare failure). With
    no noise a text always makes the same audio, and a test passes or fails the same way.
    """
    voice = PiperSynthesizer(options=PiperOptions(noise_scale=0.0, noise_w_scale=0.0))
    list(voice.synthesize("Warm up."))
    return voice


# -- speech in, speech out -------------------------------------------------------------------
def spoken(
    voice: PiperSynthesizer, *texts: str, gap_s: float = 0.3, pad_s: float = 0.3
) -> Int16Array:
    """``texts`` said one after the other by ``voice``, at 16 kHz, padded with silence.

    Uses the service's synthesiser (and its lock: Piper's phonemiser is not thread-safe), so
    the user can be synthesised while the tts service speaks.
    """
    pieces = []
    for text in texts:
        chunks = list(voice.synthesize(text))
        audio = np.concatenate(chunks) if chunks else silence(0.0)
        pieces.append(resample(audio, voice.sample_rate, SAMPLE_RATE))
    return speech.utterance(*pieces, gap_s=gap_s, pad_s=pad_s)


def hear(whisper: WhisperTranscriber, samples: Int16Array, rate: int) -> str:
    """What Whisper hears in reply audio at ``rate`` Hz (lower case)."""
    return whisper.transcribe(resample(samples, rate, SAMPLE_RATE)).text.lower()


FIXED_TIME = dt.datetime(2026, 12, 2, 9, 30)
"""The wall clock tests give the router: Whisper tiny hears "It is 9:30 AM." reliably, while
some real times are misheard ("It is 3:18 AM." came back as "it is to read aching a")."""
FIXED_HOUR = 9
"""The hour a spoken time reply must name on :data:`FIXED_TIME`."""


def fixed_clock() -> dt.datetime:
    """:data:`FIXED_TIME`, as a router ``wallclock``."""
    return FIXED_TIME


def states_an_hour(heard: str, hours: Iterable[int]) -> bool:
    """Whether transcribed speech names one of ``hours`` (as digits or as a word)."""
    numbers = {int(n) for n in re.findall(r"\d+", heard)}
    # Whisper may glue hour and minutes together ("929" for 9:29), and mishear the minutes
    # while doing so ("160" for "one sixteen").
    numbers |= {n // 100 for n in numbers if n >= 100}
    words = set(re.findall(r"[a-z]+", heard.lower()))
    return any(hour in numbers or _HOUR_WORDS[hour] in words for hour in hours)


class Microphone:
    """A satellite's microphone: 20 ms s16le frames on ``audio/<satellite>/pcm`` in real time.

    Like a real one it never stops: silence goes out whenever nobody speaks, and each frame
    carries ``seq`` and its capture time ``ts``. Use as an async context manager.
    """

    def __init__(self, bus: Bus, satellite: str) -> None:
        """Publish through ``bus`` (a client login such as ``cli``) for ``satellite``."""
        self._bus = bus
        self._topic = pcm_topic(satellite)
        self._pending: deque[tuple[bytes, asyncio.Future[float] | None]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._quiet = int16_to_bytes(silence(FRAME_MS / 1000)[:_FRAME])

    async def __aenter__(self) -> Microphone:
        self._task = asyncio.create_task(self._run(), name="test:microphone")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The flag as well as the cancel: on Python 3.11 asyncio.wait_for (inside aiomqtt's
        # publish) can swallow a cancel that races its own completion, and this loop would
        # then go on publishing for ever.
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, done in self._pending:
            if done is not None and not done.done():
                done.cancel()

    def play(self, audio: Int16Array) -> asyncio.Future[float]:
        """Queue ``audio``; the future gives ``time.monotonic()`` once its last frame is out."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        padded = np.pad(audio, (0, (-audio.size) % _FRAME))
        offsets = range(0, padded.size, _FRAME)
        for index, offset in enumerate(offsets):
            last = index == len(offsets) - 1
            self._pending.append(
                (int16_to_bytes(padded[offset : offset + _FRAME]), done if last else None)
            )
        return done

    async def say(self, audio: Int16Array) -> float:
        """Play ``audio`` and return (``time.monotonic()``) once its last frame went out."""
        return await self.play(audio)

    async def _run(self) -> None:
        began, wall = time.perf_counter(), time.time()
        seq = 0
        while not self._closed:
            payload, done = self._pending.popleft() if self._pending else (self._quiet, None)
            ts = wall + seq * FRAME_MS / 1000  # capture time of the frame's first sample
            properties = {"seq": str(seq), "ts": f"{ts:.6f}"}
            await self._bus.publish_raw(self._topic, payload, properties=properties)
            if done is not None and not done.done():
                done.set_result(time.monotonic())
            seq += 1
            delay = began + seq * FRAME_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:  # the loop stalled: skip ahead (a gap) rather than burst
                began, wall = began - delay, wall - delay
