"""Speech-to-text service: segmenter -> turn decision -> transcriber -> filters -> publish.

Audio arrives on ``audio/+/pcm``. Each satellite has a `SatelliteStream` with its own
segmenter (Silero VAD) and a supervised worker (`tars.runtime.workers`: bounded queue,
restarted with a fresh stream if it fails, capped number of satellites) that hands batches of
frames to a thread, so VAD, turn model and Whisper never run on the event loop and each
satellite stays in order.

One utterance, in order:

1. The segmenter reports speech, pauses and the end of the utterance (`endpoint`).
2. The gate says whether anybody is listening (`session.Gate`: wake word, follow-up window,
   live mode; muted while TTS speaks), in audio time. Speech that starts within the
   continuation window after a final continues that turn (`stream.SatelliteStream`).
3. At each pause the transcript so far and the turn model vote on the end of turn
   (`turn.EndOfTurnPolicy`), which sets how much more silence ends the utterance.
4. The final transcript (the pause transcript when no speech followed) goes through the
   filter chain (`filters`); a rejection is published on ``stt/rejected`` with its reason,
   a final on ``stt/final``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.contracts.audio import PCM_PATTERN, satellite_of
from tars.contracts.base import new_id
from tars.contracts.conversation import ROUTER_STATE_PATTERN
from tars.contracts.stt import TOPIC_STT_CONTINUATION, TurnContinuation
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Bus, Message, RawMessage
from tars.runtime.logs import log_context
from tars.runtime.settings import ConversationSettings, RuntimeSettings
from tars.runtime.workers import SatelliteWorkers
from tars.services.stt.endpoint import (
    PartialDue,
    SegmenterEvent,
    SpeechStarted,
    UtteranceEnded,
    UtteranceSegmenter,
)
from tars.services.stt.factory import (
    build_segmenter,
    build_transcriber,
    build_turn_model,
    build_turn_policy,
)
from tars.services.stt.publisher import Heard, Publisher
from tars.services.stt.session import WAKE_SPAN_S, Decision, Gate, Window, cut_audio
from tars.services.stt.settings import SttSettings
from tars.services.stt.stream import (
    Frame,
    HeldUtterance,
    PauseTranscript,
    SatelliteStream,
    feed,
    frame_ts,
)
from tars.services.stt.transcriber import Transcriber, Transcript, TranscriptionError
from tars.services.stt.turn import TurnDecision
from tars.services.stt.turn_model import TurnModel
from tars.text.commands import is_closed_command

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


class SttService:
    """Transcribes gated utterances of every satellite and publishes finals and partials."""

    name = "stt"

    def __init__(
        self,
        settings: SttSettings,
        *,
        conversation: ConversationSettings | None = None,
        transcriber: Transcriber | None = None,
        turn_model: TurnModel | None = None,
        segmenter_factory: SegmenterFactory | None = None,
        closed_command: Callable[[str], bool] | None = None,
    ) -> None:
        """Prepare the service; transcriber and turn model load in `run` unless given.

        Args:
            settings: The ``STT_*`` settings.
            conversation: The windows and wake phrases shared with the router.
            transcriber: A loaded transcriber (tests, benches); built from settings if None.
            turn_model: A loaded turn model; built from settings if None.
            segmenter_factory: Makes one segmenter per satellite (Silero VAD by default).
            closed_command: Whether a transcript is a whole command answered by rule (the
                turn then ends at once); by default the router's command grammar.
        """
        self._settings = settings
        self._conversation = conversation or ConversationSettings()
        self._transcriber = transcriber
        self._turn_model = turn_model
        self._policy = build_turn_policy(settings)
        self._closed_command = closed_command or is_closed_command
        self._segmenters = segmenter_factory or (lambda: build_segmenter(settings))
        self._gates: dict[str, Gate] = {}
        self._workers: SatelliteWorkers[Frame, SatelliteStream] | None = None
        self._ready = asyncio.Event()
        self._bus: Bus | None = None
        self._publisher: Publisher | None = None
        # Transcriptions get threads of their own: queued behind the Whisper lock they would
        # otherwise fill the loop's default executor and starve every other to_thread user
        # (the VAD here, the wake detector when both services share a process).
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stt-transcribe")
        self._turn_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt-turn")

    @property
    def bus(self) -> Bus:
        """The bus, once attached."""
        if self._bus is None:
            raise RuntimeError("stt service is not attached to a bus")
        return self._bus

    @property
    def publisher(self) -> Publisher:
        """Filters and publishes finals, partials and rejections (once attached)."""
        if self._publisher is None:
            raise RuntimeError("stt service is not attached to a bus")
        return self._publisher

    @property
    def workers(self) -> SatelliteWorkers[Frame, SatelliteStream]:
        """The per-satellite workers (once attached)."""
        if self._workers is None:
            raise RuntimeError("stt service is not attached to a bus")
        return self._workers

    def gate(self, satellite: str) -> Gate:
        """The gate of ``satellite`` (created on first use)."""
        gate = self._gates.get(satellite)
        if gate is None:
            gate = self._gates[satellite] = Gate(live=self._conversation.live_mode)
        return gate

    # -- lifecycle ---------------------------------------------------------------
    def attach(self, bus: Bus) -> None:
        """Subscribe to audio, wake events, TTS and the router's conversation state."""
        self._bus = bus
        self._publisher = Publisher(bus, self._settings, self._conversation.phrases())
        self._workers = SatelliteWorkers(
            bus,
            self._work,
            self._open_stream,
            limits=self._settings.worker_limits(),
            on_removed=self._forget,
        )
        bus.subscribe_raw(PCM_PATTERN, self._on_pcm)
        bus.subscribe(TOPIC_WAKE_EVENT, self._on_wake)
        bus.subscribe(TOPIC_TTS_STATUS, self._on_tts_status)
        bus.subscribe(TOPIC_TTS_SAY, self._on_tts_say)
        bus.subscribe(ROUTER_STATE_PATTERN, self._on_router_state)

    async def run(self) -> None:
        """Load the transcriber and the turn model once, off the event loop, then report ready."""
        bus = self.bus
        await bus.set_health(True, "loading")
        started = time.perf_counter()
        if self._transcriber is None:
            self._transcriber = await asyncio.to_thread(self._load)
        if self._turn_model is None and self._policy.uses_model:
            self._turn_model = await asyncio.to_thread(build_turn_model, self._settings)
        _LOGGER.info("engines ready in %.2f s", time.perf_counter() - started)
        self._ready.set()
        await bus.set_health(True, "ready")
        await self.workers.run()

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
        self.workers.put(satellite, (samples.astype(np.int16), frame_ts(message, samples.size)))

    async def _open_stream(self, satellite: str) -> SatelliteStream:
        # Also called on a restart after a failure: a fresh segmenter, the same gate.
        return SatelliteStream(satellite, self._segmenters(), self.gate(satellite))

    def _forget(self, satellite: str) -> None:
        # A closed satellite's gate goes too, unless it still holds something: an open
        # window, TTS speaking, or live mode the router switched away from the default.
        gate = self._gates.get(satellite)
        live_default = gate is not None and gate.live == self._conversation.live_mode
        if gate is not None and live_default and gate.at_rest(time.time()):
            del self._gates[satellite]

    async def _on_wake(self, message: Message) -> None:
        event = message.data
        if event.type not in ("wake", "interrupt") or event.satellite is None:
            return
        cut = event.ts if event.ts is not None else time.time()
        window = Window(
            kind="interrupt" if event.type == "interrupt" else "wake",
            start_ts=cut - WAKE_SPAN_S,
            end_ts=cut + self._conversation.wake_window_s,
            cut_ts=cut,
        )
        self.gate(event.satellite).open(window)
        stream = self.workers.state(event.satellite)
        if stream is not None:
            stream.last_turn = None  # after a wake word comes a new request, not more of one
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
                gate.open(Window("followup", now, now + self._conversation.followup_window_s))

    async def _on_tts_say(self, message: Message) -> None:
        text = message.data.text.strip()
        if text:
            self.publisher.tts_spoke(text)

    async def _on_router_state(self, message: Message) -> None:
        # Live mode switched by voice lives in the router; the gate follows it.
        state = message.data
        self.gate(state.satellite).live = state.live_mode

    # -- the per-satellite worker -------------------------------------------------------
    async def _work(
        self, satellite: str, stream: SatelliteStream, queue: asyncio.Queue[Frame]
    ) -> None:
        """Feed one satellite's frames to its segmenter and handle the events, in order.

        A failing utterance is logged and counted here; anything else (the VAD failing)
        propagates, and the supervisor restarts the worker with a fresh stream.
        """
        with log_context(satellite=satellite):
            while True:
                pending = [await queue.get()]
                while not queue.empty() and len(pending) < _MAX_BATCH:
                    pending.append(queue.get_nowait())
                while pending:
                    events, used = await asyncio.to_thread(feed, stream, pending)
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

    async def _on_event(self, stream: SatelliteStream, event: SegmenterEvent) -> None:
        if isinstance(event, SpeechStarted):
            await self._on_speech_started(stream, event)
        elif isinstance(event, PartialDue):
            await self._on_partial_due(stream, event)
        else:
            await self._on_utterance(stream, event)

    async def _on_speech_started(self, stream: SatelliteStream, event: SpeechStarted) -> None:
        self.bus.metrics.inc("speech_started")
        window_s = self._conversation.continuation_window_s
        continued = stream.start_utterance(new_id(), event.start_s, window_s)
        if continued is None:
            return
        self.bus.metrics.inc("continuations")
        if stream.gate.tts_speaking:
            # The reply is playing: this may be its echo. Only the transcript can tell, so
            # the router learns of the continuation from the final (``continues``).
            return
        gap = max(0.0, event.start_s - continued.speech_end_s)
        await self.bus.publish(
            TOPIC_STT_CONTINUATION,
            TurnContinuation(utt_id=continued.utt_id, satellite=stream.satellite, gap_s=gap),
        )

    def _decide(self, stream: SatelliteStream, start_ts: float, end_ts: float) -> Decision:
        """The gate's decision, unless the utterance continues the last turn."""
        decision = stream.gate.decide(start_ts, end_ts)
        last = stream.continuing
        fresh_wake = decision.cut_ts is not None and decision.reason in ("wake", "interrupt")
        if last is None or fresh_wake:
            return decision
        return Decision(True, "continuation")

    async def _on_partial_due(self, stream: SatelliteStream, event: PartialDue) -> None:
        if event.reason == "interval" and (
            not self._settings.streaming_partials
            or self.workers.pending(stream.satellite) > _BEHIND_FRAMES
        ):
            return
        times = stream.times
        decision = self._decide(
            stream, times.wall(stream.speech_start_s), times.wall(event.speech_end_s)
        )
        if not decision.accepted:
            return
        margin = self._settings.wake_cut_margin_ms / 1000
        audio = cut_audio(event.samples, times.wall(event.audio_start_s), decision.cut_ts, margin)
        if audio.size < _MIN_TRANSCRIBE_S * SAMPLE_RATE:
            return
        audio = stream.joined(audio)
        if event.reason == "pause":
            transcript, turn = await self._judge_pause(audio)
            text = self.publisher.strip_wake(transcript.text)
            _LOGGER.debug("pause: %r %s (p=%s)", text, turn.verdict, turn.probability)
            stream.pause = PauseTranscript(
                event.speech_end_s, decision.cut_ts, transcript, text, turn
            )
            stream.segmenter.set_hangover_ms(turn.hangover_ms)
            self.bus.metrics.inc(f"turn.{turn.verdict}")
        else:
            transcript = await self._transcribe(audio)
            text = self.publisher.strip_wake(transcript.text)
        await self.publisher.partial(stream, text, transcript)

    async def _judge_pause(self, audio: Int16Array) -> tuple[Transcript, TurnDecision]:
        """Transcribe and run the turn model at a pause, in parallel; decide the end of turn."""
        probability_task = asyncio.ensure_future(self._turn_probability(audio))
        try:
            transcript = await self._transcribe(audio)
        except BaseException:
            probability_task.cancel()
            raise
        probability = await probability_task
        words = self.publisher.strip_wake(transcript.text)
        closed = bool(words) and self._closed_command(words)
        return transcript, self._policy.decide(words, probability, closed=closed)

    async def _turn_probability(self, audio: Int16Array) -> float | None:
        model = self._turn_model
        if model is None:
            return None
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            probability = await loop.run_in_executor(
                self._turn_pool, model.complete_probability, audio
            )
        except Exception:
            # A failing model must not lose the utterance: the policy then waits longer.
            self.bus.metrics.inc("turn_model_errors")
            _LOGGER.exception("turn model failed")
            return None
        self.bus.metrics.observe("turn_model_ms", (time.perf_counter() - started) * 1000)
        return probability

    async def _on_utterance(self, stream: SatelliteStream, event: UtteranceEnded) -> None:
        times = stream.times
        start_ts, end_ts = times.wall(event.speech_start_s), times.wall(event.speech_end_s)
        audio_start_ts = times.wall(event.audio_start_s)
        decision = self._decide(stream, start_ts, end_ts)
        if not decision.accepted:
            self.bus.metrics.inc(f"gated.{decision.reason}")
            _LOGGER.debug("utterance not transcribed: %s", decision.reason)
            if decision.reason == "not_listening" and self._settings.held_utterance_s > 0:
                until = time.monotonic() + self._settings.held_utterance_s
                stream.held = [h for h in stream.held if h.until > time.monotonic()][-1:]
                stream.held.append(HeldUtterance(event, start_ts, end_ts, audio_start_ts, until))
            return
        await self._finalize(stream, event, decision, start_ts, end_ts, audio_start_ts)

    async def _retry_held(self, stream: SatelliteStream) -> None:
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
        stream: SatelliteStream,
        event: UtteranceEnded,
        decision: Decision,
        start_ts: float,
        end_ts: float,
        audio_start_ts: float,
    ) -> None:
        pause, stream.pause = stream.pause, None
        margin = self._settings.wake_cut_margin_ms / 1000
        audio = cut_audio(event.samples, audio_start_ts, decision.cut_ts, margin)
        if audio.size < _MIN_TRANSCRIBE_S * SAMPLE_RATE:
            self.bus.metrics.inc("too_short")
            return
        audio = stream.joined(audio)
        if (
            pause is not None
            and pause.speech_end_s == event.speech_end_s
            and pause.cut_ts == decision.cut_ts
        ):
            transcript, turn = pause.transcript, pause.turn
            self.bus.metrics.inc("pause_transcript_reused")
        else:
            transcript, turn = await self._transcribe(audio), None
        heard = Heard(
            event=event,
            decision=decision,
            speech_start_ts=max(start_ts, decision.cut_ts or start_ts),
            speech_end_ts=end_ts,
            audio=audio,
            turn=turn,
        )
        await self.publisher.final(stream, heard, transcript)

    async def _transcribe(self, audio: Int16Array) -> Transcript:
        transcriber = self._transcriber
        if transcriber is None:
            raise TranscriptionError("model", "the transcriber is not loaded yet")
        loop = asyncio.get_running_loop()
        transcript = await loop.run_in_executor(self._pool, transcriber.transcribe, audio)
        self.bus.metrics.observe("transcribe_ms", transcript.elapsed_s * 1000)
        return transcript


def build(runtime: RuntimeSettings) -> SttService:
    """Build the stt service from ``STT_*`` and ``TARS_*`` settings."""
    settings = SttSettings()
    if settings.data_dir is None:  # assembled models (Whisper base) live in the data dir
        settings = settings.model_copy(update={"data_dir": runtime.data_dir / "stt"})
    return SttService(settings, conversation=ConversationSettings())
