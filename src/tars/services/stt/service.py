"""Speech-to-text service: VAD per satellite, gated transcription, filtered finals.

Audio arrives on ``audio/+/pcm``. Each satellite has a `_Stream` with its own segmenter
(Silero VAD) and a worker task that hands batches of frames to a thread, so VAD and
Whisper never run on the event loop and each satellite stays in order. The VAD sees every
frame; the gate (`tars.services.stt.session.Gate`) decides per utterance, in audio time,
whether it is transcribed: after a wake or barge-in (from the end of the wake word), in
the follow-up window after a reply, or always in live mode, and never while TTS speaks on
that satellite unless a barge-in opened it.

End of turn follows the segmenter's recipe: each pause partial is transcribed at once; when
it reads as a finished request the hangover is shortened, and when the utterance then ends
at the same point that transcript is published as the final without decoding again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.contracts.audio import PCM_PATTERN, satellite_of
from tars.contracts.base import new_id
from tars.contracts.stt import (
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    FinalTranscript,
    PartialTranscript,
)
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Bus, Message, RawMessage
from tars.runtime.logs import log_context
from tars.runtime.settings import RuntimeSettings
from tars.services.stt.endpoint import (
    PartialDue,
    SegmenterEvent,
    SpeechStarted,
    UtteranceEnded,
    UtteranceSegmenter,
)
from tars.services.stt.factory import build_filter_chain, build_segmenter, build_transcriber
from tars.services.stt.filters import Candidate, FilterContext, RecentTexts
from tars.services.stt.session import (
    WAKE_SPAN_S,
    Decision,
    Gate,
    TimeMap,
    Window,
    cut_audio,
    strip_wake_phrase,
)
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import Transcriber, Transcript, TranscriptionError
from tars.services.stt.turn import looks_complete, partial_worth_publishing

_LOGGER = logging.getLogger(__name__)

LOCAL = "local"
"""Satellite id of TTS status and say messages that name none."""
_MAX_BATCH = 100
"""Most frames handed to the VAD thread at once."""
_BEHIND_FRAMES = 10
"""Queued frames beyond which interval partials are skipped (the worker is behind)."""
_MIN_TRANSCRIBE_S = 0.3
"""Shortest audio worth transcribing, in seconds."""

SegmenterFactory = Callable[[], UtteranceSegmenter]


@dataclass
class _Pause:
    """A pause partial's transcript, reusable as the final if no speech followed."""

    speech_end_s: float
    cut_ts: float | None
    transcript: Transcript
    text: str


@dataclass
class _Held:
    """An utterance heard outside every window, kept briefly for a late wake event."""

    event: UtteranceEnded
    start_ts: float
    end_ts: float
    audio_start_ts: float
    until: float


@dataclass
class _Stream:
    """One satellite's audio state."""

    satellite: str
    segmenter: UtteranceSegmenter
    gate: Gate
    times: TimeMap = field(default_factory=TimeMap)
    queue: asyncio.Queue[tuple[Int16Array, float]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    utt_id: str = ""
    speech_start_s: float = 0.0
    last_partial: str = ""
    pause: _Pause | None = None
    held: list[_Held] = field(default_factory=list)
    published: RecentTexts = field(default_factory=RecentTexts)


def _feed(
    stream: _Stream, frames: list[tuple[Int16Array, float]]
) -> tuple[list[SegmenterEvent], int]:
    """Run the segmenter over frames (worker thread); stop after a pause partial.

    Stopping there lets the service transcribe the pause partial and shorten the hangover
    before the following audio is segmented.
    """
    events: list[SegmenterEvent] = []
    for used, (samples, ts) in enumerate(frames, start=1):
        stream.times.add(ts, samples.size)
        produced = stream.segmenter.feed(samples)
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


class SttService:
    """Transcribes gated utterances of every satellite and publishes finals and partials."""

    name = "stt"

    def __init__(
        self,
        settings: SttSettings,
        *,
        transcriber: Transcriber | None = None,
        segmenter_factory: SegmenterFactory | None = None,
    ) -> None:
        """Prepare the service; the transcriber loads in `run` unless one is given."""
        self._settings = settings
        self._transcriber = transcriber
        self._segmenters = segmenter_factory or (lambda: build_segmenter(settings))
        self._chain = build_filter_chain(settings)
        self._tts_texts = RecentTexts(max_items=10, max_age_s=30.0)
        self._streams: dict[str, _Stream] = {}
        self._gates: dict[str, Gate] = {}
        self._ready = asyncio.Event()
        self._bus: Bus | None = None
        # Transcriptions get threads of their own: queued behind the Whisper lock they would
        # otherwise fill the loop's default executor and starve every other to_thread user
        # (the VAD here, the wake detector when both services share a process).
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stt-transcribe")

    @property
    def bus(self) -> Bus:
        """The bus, once attached."""
        if self._bus is None:
            raise RuntimeError("stt service is not attached to a bus")
        return self._bus

    def gate(self, satellite: str) -> Gate:
        """The gate of ``satellite`` (created on first use)."""
        gate = self._gates.get(satellite)
        if gate is None:
            gate = self._gates[satellite] = Gate(live=self._settings.live_mode)
        return gate

    # -- lifecycle ---------------------------------------------------------------
    def attach(self, bus: Bus) -> None:
        """Subscribe to audio, wake events and TTS."""
        self._bus = bus
        bus.subscribe_raw(PCM_PATTERN, self._on_pcm)
        bus.subscribe(TOPIC_WAKE_EVENT, self._on_wake)
        bus.subscribe(TOPIC_TTS_STATUS, self._on_tts_status)
        bus.subscribe(TOPIC_TTS_SAY, self._on_tts_say)

    async def run(self) -> None:
        """Load the transcriber once, off the event loop, then report ready."""
        bus = self.bus
        await bus.set_health(True, "loading")
        if self._transcriber is None:
            started = time.perf_counter()
            self._transcriber = await asyncio.to_thread(self._load)
            _LOGGER.info("transcriber ready in %.2f s", time.perf_counter() - started)
        self._ready.set()
        await bus.set_health(True, "ready")

    def _load(self) -> Transcriber:
        transcriber = build_transcriber(self._settings)
        warm_up = getattr(transcriber, "warm_up", None)
        if callable(warm_up):
            warm_up()
        return transcriber

    # -- inputs ------------------------------------------------------------------------
    async def _on_pcm(self, message: RawMessage) -> None:
        satellite = satellite_of(message.topic)
        if satellite is None or len(message.payload) < 2:
            return
        samples = np.frombuffer(message.payload[: len(message.payload) // 2 * 2], dtype="<i2")
        stream = self._streams.get(satellite)
        if stream is None:
            stream = _Stream(satellite, self._segmenters(), self.gate(satellite))
            self._streams[satellite] = stream
            stream.task = asyncio.create_task(self._work(stream), name=f"stt:stream:{satellite}")
        stream.queue.put_nowait((samples.astype(np.int16), frame_ts(message, samples.size)))

    async def _on_wake(self, message: Message) -> None:
        event = message.data
        if event.type not in ("wake", "interrupt") or event.satellite is None:
            return
        cut = event.ts if event.ts is not None else time.time()
        window = Window(
            kind="interrupt" if event.type == "interrupt" else "wake",
            start_ts=cut - WAKE_SPAN_S,
            end_ts=cut + self._settings.wake_window_s,
            cut_ts=cut,
        )
        self.gate(event.satellite).open(window)
        stream = self._streams.get(event.satellite)
        if stream is not None:
            await self._retry_held(stream)

    async def _on_tts_status(self, message: Message) -> None:
        status = message.data
        gate = self.gate(status.satellite or LOCAL)
        if status.event in ("speaking_start", "resumed"):
            gate.tts_speaking = True
        elif status.event in ("paused", "stopped"):
            gate.tts_speaking = False
        elif status.event == "speaking_end":
            gate.tts_speaking = False
            if not (status.wake_ack or status.system_announce):
                now = time.time()
                gate.open(Window("followup", now, now + self._settings.response_window_s))

    async def _on_tts_say(self, message: Message) -> None:
        text = message.data.text.strip()
        if text:
            self._tts_texts.record(text, time.monotonic())

    # -- the per-satellite worker -------------------------------------------------------
    async def _work(self, stream: _Stream) -> None:
        with log_context(satellite=stream.satellite):
            await self._ready.wait()
            while True:
                pending = [await stream.queue.get()]
                while not stream.queue.empty() and len(pending) < _MAX_BATCH:
                    pending.append(stream.queue.get_nowait())
                while pending:
                    events, used = await asyncio.to_thread(_feed, stream, pending)
                    pending = pending[used:]
                    for event in events:
                        try:
                            await self._on_event(stream, event)
                        except TranscriptionError as err:
                            self.bus.metrics.inc(f"transcribe_errors.{err.code}")
                            _LOGGER.error("transcription failed: %s", err)
                        except Exception:
                            # One bad utterance must not end this satellite's stream.
                            self.bus.metrics.inc("event_errors")
                            _LOGGER.exception("handling %s failed", type(event).__name__)

    async def _on_event(self, stream: _Stream, event: SegmenterEvent) -> None:
        if isinstance(event, SpeechStarted):
            stream.utt_id = new_id()
            stream.speech_start_s = event.start_s
            stream.last_partial = ""
            stream.pause = None
            self.bus.metrics.inc("speech_started")
        elif isinstance(event, PartialDue):
            await self._on_partial_due(stream, event)
        else:
            await self._on_utterance(stream, event)

    async def _on_partial_due(self, stream: _Stream, event: PartialDue) -> None:
        if event.reason == "interval" and (
            not self._settings.streaming_partials or stream.queue.qsize() > _BEHIND_FRAMES
        ):
            return
        times = stream.times
        decision = stream.gate.decide(
            times.wall(stream.speech_start_s), times.wall(event.speech_end_s)
        )
        if not decision.accepted:
            return
        margin = self._settings.wake_cut_margin_ms / 1000
        audio = cut_audio(event.samples, times.wall(event.audio_start_s), decision.cut_ts, margin)
        if audio.size < _MIN_TRANSCRIBE_S * SAMPLE_RATE:
            return
        transcript = await self._transcribe(audio)
        text = strip_wake_phrase(transcript.text, self._settings.wake_phrases)
        if event.reason == "pause":
            stream.pause = _Pause(event.speech_end_s, decision.cut_ts, transcript, text)
            if looks_complete(text):
                stream.segmenter.set_hangover_ms(self._settings.short_hangover_ms)
                self.bus.metrics.inc("early_end_of_turn")
        settings = self._settings
        if settings.streaming_partials and partial_worth_publishing(
            text,
            stream.last_partial,
            min_chars=settings.partial_min_chars,
            min_new_chars=settings.partial_min_new_chars,
            min_alpha_ratio=settings.partial_alpha_ratio_min,
        ):
            stream.last_partial = text
            partial = PartialTranscript(
                text=text,
                confidence=_unit(transcript.confidence),
                utt_id=stream.utt_id,
                satellite=stream.satellite,
            )
            await self.bus.publish(TOPIC_STT_PARTIAL, partial)

    async def _on_utterance(self, stream: _Stream, event: UtteranceEnded) -> None:
        times = stream.times
        start_ts, end_ts = times.wall(event.speech_start_s), times.wall(event.speech_end_s)
        audio_start_ts = times.wall(event.audio_start_s)
        decision = stream.gate.decide(start_ts, end_ts)
        if not decision.accepted:
            self.bus.metrics.inc(f"gated.{decision.reason}")
            _LOGGER.debug("utterance not transcribed: %s", decision.reason)
            if decision.reason == "not_listening" and self._settings.held_utterance_s > 0:
                until = time.monotonic() + self._settings.held_utterance_s
                stream.held = [h for h in stream.held if h.until > time.monotonic()][-1:]
                stream.held.append(_Held(event, start_ts, end_ts, audio_start_ts, until))
            return
        await self._finalize(stream, event, decision, start_ts, end_ts, audio_start_ts)

    async def _retry_held(self, stream: _Stream) -> None:
        now = time.monotonic()
        held, stream.held = [h for h in stream.held if h.until > now], []
        for item in held:
            decision = stream.gate.decide(item.start_ts, item.end_ts)
            if decision.accepted:
                _LOGGER.info("late wake event: transcribing an utterance already ended")
                await self._finalize(
                    stream, item.event, decision, item.start_ts, item.end_ts, item.audio_start_ts
                )

    async def _finalize(
        self,
        stream: _Stream,
        event: UtteranceEnded,
        decision: Decision,
        start_ts: float,
        end_ts: float,
        audio_start_ts: float,
    ) -> None:
        pause = stream.pause
        stream.pause = None
        if (
            pause is not None
            and pause.speech_end_s == event.speech_end_s
            and pause.cut_ts == decision.cut_ts
        ):
            transcript, text = pause.transcript, pause.text
            self.bus.metrics.inc("pause_transcript_reused")
        else:
            margin = self._settings.wake_cut_margin_ms / 1000
            audio = cut_audio(event.samples, audio_start_ts, decision.cut_ts, margin)
            if audio.size < _MIN_TRANSCRIBE_S * SAMPLE_RATE:
                return
            transcript = await self._transcribe(audio)
            text = strip_wake_phrase(transcript.text, self._settings.wake_phrases)
        speech_start = max(start_ts, decision.cut_ts or start_ts)
        if not text:
            self.bus.metrics.inc("rejected.empty")
            _LOGGER.info("transcript rejected by empty: nothing left after the wake phrase")
            return
        now = time.monotonic()
        candidate = Candidate(
            text=text,
            duration_s=max(0.0, end_ts - speech_start),
            rms=event.rms,
            active_ratio=event.active_ratio,
            confidence=transcript.confidence,
            no_speech_prob=transcript.no_speech_prob,
            avg_logprob=transcript.avg_logprob,
        )
        context = FilterContext(
            now=now,
            in_response_window=decision.reason == "followup",
            tts_texts=self._tts_texts.texts(now),
            published=stream.published.snapshot(now),
        )
        rejection = self._chain.check(candidate, context)
        if rejection is not None:
            self.bus.metrics.inc(f"rejected.{rejection.filter}")
            _LOGGER.info(
                "transcript %r rejected by %s: %s", text, rejection.filter, rejection.reason
            )
            return
        stream.published.record(text, now)
        stream.gate.consume(decision.window)
        final = FinalTranscript(
            text=text,
            lang=transcript.language,
            confidence=_unit(transcript.confidence),
            utt_id=stream.utt_id or new_id(),
            satellite=stream.satellite,
            speech_start_ts=speech_start,
            speech_end_ts=end_ts,
            transcribe_ms=round(transcript.elapsed_s * 1000, 1),
            source="voice",
        )
        await self.bus.publish(TOPIC_STT_FINAL, final)
        self.bus.metrics.inc("finals")
        _LOGGER.info("final %r (%s, %.0f ms)", text, decision.reason, final.transcribe_ms or 0.0)

    async def _transcribe(self, audio: Int16Array) -> Transcript:
        transcriber = self._transcriber
        if transcriber is None:
            raise TranscriptionError("model", "the transcriber is not loaded yet")
        loop = asyncio.get_running_loop()
        transcript = await loop.run_in_executor(self._pool, transcriber.transcribe, audio)
        self.bus.metrics.observe("transcribe_ms", transcript.elapsed_s * 1000)
        return transcript


def _unit(value: float | None) -> float | None:
    return None if value is None else min(1.0, max(0.0, value))


def build(runtime: RuntimeSettings) -> SttService:
    """Build the stt service from ``STT_*`` settings."""
    settings = SttSettings()
    if settings.data_dir is None:  # assembled models (Whisper base) live in the data dir
        settings = settings.model_copy(update={"data_dir": runtime.data_dir / "stt"})
    return SttService(settings)
