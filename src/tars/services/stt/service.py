"""Speech-to-text service: segmenter -> turn decision -> transcriber -> filters -> publish.

Audio arrives on ``audio/+/pcm``. Each satellite has a `SatelliteStream` with its own
segmenter (Silero VAD) and a supervised worker (`tars.runtime.workers`: bounded queue,
restarted with a fresh stream if it fails, capped number of satellites) that hands batches of
frames to a thread, so VAD, turn model and Whisper never run on the event loop and each
satellite stays in order.

One utterance, in order:

1. The segmenter reports speech, pauses and the end of the utterance (`endpoint`).
2. `pipeline.UtterancePipeline` takes each event: the gate says whether anybody is listening
   (`session.Gate`: wake word, follow-up window, live mode; muted while TTS speaks), in audio
   time; speech that starts within the continuation window after a final continues that turn
   (`stream.SatelliteStream`); at each pause the transcript so far and the turn model vote on
   the end of turn (`turn.EndOfTurnPolicy`), which sets how much more silence ends it.
3. The final transcript (the pause transcript when no speech followed) goes through the
   filter chain (`filters`) in `publisher.Publisher`; a rejection is published on
   ``stt/rejected`` with its reason, a final on ``stt/final``.

This module holds the service's lifecycle and bus inputs: audio, wake events, TTS status and
the router's conversation state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from tars.contracts.audio import PCM_PATTERN, satellite_of
from tars.contracts.conversation import ROUTER_STATE_PATTERN
from tars.contracts.stt import VOICE_CAUSE
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Bus, Message, RawMessage
from tars.runtime.logs import log_context
from tars.runtime.malloc import release_free_memory
from tars.runtime.settings import ConversationSettings, RuntimeSettings
from tars.runtime.workers import SatelliteWorkers, WorkerLimits
from tars.services.stt.endpoint import (
    UtteranceSegmenter,
)
from tars.services.stt.factory import (
    build_segmenter,
    build_transcriber,
    build_turn_model,
    build_turn_policy,
)
from tars.services.stt.pipeline import UtterancePipeline
from tars.services.stt.publisher import Publisher
from tars.services.stt.session import WAKE_SPAN_S, Gate, Window
from tars.services.stt.settings import SttSettings
from tars.services.stt.stream import (
    Frame,
    SatelliteStream,
    feed,
    frame_ts,
)
from tars.services.stt.transcriber import Transcriber, TranscriptionError
from tars.services.stt.turn_model import TurnModel
from tars.text.commands import is_closed_command

_LOGGER = logging.getLogger(__name__)

LOCAL = "local"
"""Satellite id of TTS status and say messages that name none."""
_MAX_BATCH = 100
"""Most frames handed to the VAD thread at once."""

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
        worker_limits: WorkerLimits | None = None,
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
            worker_limits: Per-satellite worker bounds; default from ``settings``.
        """
        self._settings = settings
        self._conversation = conversation or ConversationSettings()
        self._transcriber = transcriber
        self._turn_model = turn_model
        self._policy = build_turn_policy(settings)
        self._closed_command = closed_command or is_closed_command
        self._pipeline: UtterancePipeline | None = None
        self._segmenters = segmenter_factory or (lambda: build_segmenter(settings))
        self._limits = worker_limits or settings.worker_limits()
        self._gates: dict[str, Gate] = {}
        self._workers: SatelliteWorkers[Frame, SatelliteStream] | None = None
        self._ready = asyncio.Event()
        self._bus: Bus | None = None
        self._publisher: Publisher | None = None

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
    def pipeline(self) -> UtterancePipeline:
        """Takes each utterance from the segmenter to a published result (once attached)."""
        if self._pipeline is None:
            raise RuntimeError("stt service is not attached to a bus")
        return self._pipeline

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
        self._publisher = Publisher(
            bus, self._settings, self._conversation.phrases(), self._closed_command
        )
        self._pipeline = UtterancePipeline(
            self._settings,
            self._conversation,
            bus,
            self._publisher,
            self._policy,
            closed_command=self._closed_command,
            backlog=lambda satellite: self.workers.pending(satellite),
        )
        self._workers = SatelliteWorkers(
            bus,
            self._work,
            self._open_stream,
            limits=self._limits,
            on_removed=self._forget,
        )
        bus.subscribe_raw(PCM_PATTERN, self._on_pcm)
        bus.subscribe(TOPIC_WAKE_EVENT, self._on_wake, priority=True)
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
        self.pipeline.transcriber, self.pipeline.turn_model = self._transcriber, self._turn_model
        _LOGGER.info("engines ready in %.2f s", time.perf_counter() - started)
        await asyncio.to_thread(release_free_memory)  # what loading the models freed
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
        properties = message.properties
        if "aec" in properties:
            self.gate(satellite).echo_cancelled = True
        over_speaker = properties.get("speaker") == "1"
        ts = frame_ts(message, samples.size)
        self.workers.put(satellite, (samples.astype(np.int16), ts, over_speaker))

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
        if event.cause == VOICE_CAUSE:
            return  # stt raised it itself and already opened the window
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
            await self.pipeline.retry_held(stream)

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
                            await self.pipeline.handle(stream, event)
                        except TranscriptionError as err:
                            self.bus.metrics.inc(f"transcribe_errors.{err.code}")
                            _LOGGER.error("transcription failed: %s", err)
                        except Exception:
                            # One bad utterance must not end this satellite's stream.
                            self.bus.metrics.inc("event_errors")
                            _LOGGER.exception("handling %s failed", type(event).__name__)


def build(runtime: RuntimeSettings) -> SttService:
    """Build the stt service from ``STT_*`` and ``TARS_*`` settings."""
    settings = SttSettings()
    if settings.data_dir is None:  # assembled models (Whisper base) live in the data dir
        settings = settings.model_copy(update={"data_dir": runtime.data_dir / "stt"})
    limits = settings.worker_limits(runtime.satellites)
    return SttService(settings, conversation=ConversationSettings(), worker_limits=limits)
