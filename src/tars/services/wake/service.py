"""Wake service: wake-word detection per satellite and barge-in while TTS speaks.

Audio arrives on ``audio/+/pcm``. Each satellite gets its own detector and worker task under
a `SatelliteWorkers` supervisor (bounded frame queue, restart with a fresh detector if it
fails, a cap on satellites, idle satellites freed); the worker hands batches of frames to a
thread (the detector is CPU work), so detection never runs on the event loop and each
satellite's frames stay in order. Each satellite also has a `BargeIn` machine fed with TTS
status, detections, partial and final transcripts; its deadlines are served by one timer
task per satellite that sleeps exactly until `BargeIn.next_deadline` (no polling), so an
interrupted reply always ends in resume, stop or a new turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.contracts.audio import PCM_PATTERN, satellite_of
from tars.contracts.llm import TOPIC_LLM_CANCEL, LLMCancel
from tars.contracts.stt import (
    TOPIC_STT_BARGE_IN,
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    TOPIC_STT_REJECTED,
)
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_STATUS, TtsControl
from tars.contracts.wake import TOPIC_WAKE_EVENT, TOPIC_WAKE_MIC, WakeEvent, WakeMicCommand
from tars.runtime.bus import Bus, Message, RawMessage
from tars.runtime.logs import log_context
from tars.runtime.settings import RuntimeSettings
from tars.runtime.workers import SatelliteWorkers, WorkerLimits
from tars.services.wake.detector import Detection, WakeDetector
from tars.services.wake.interrupt import (
    Action,
    BargeIn,
    BargeInConfig,
    EmitCancelled,
    EmitInterrupt,
    EmitResume,
    EmitTimeout,
    EmitWake,
    NewTurn,
    OpenMic,
    TtsPause,
    TtsResume,
    TtsState,
    TtsStop,
)
from tars.services.wake.settings import WakeSettings

_LOGGER = logging.getLogger(__name__)

LOCAL = "local"
"""Satellite id used when a TTS status or transcript names none (the local sound card)."""
_MAX_BATCH = 100
"""Most frames handed to the detector thread at once."""

_TTS_STATES: dict[str, TtsState] = {
    "speaking_start": "speaking",
    "resumed": "speaking",
    "paused": "paused",
    "speaking_end": "idle",
    "stopped": "idle",
}

DetectorFactory = Callable[[], WakeDetector]
"""Builds one detector (blocking: it loads a model); called off the event loop."""
Frame = tuple[Int16Array, float]
"""Samples of one audio frame and the capture time of its first sample."""


def _detect(detector: WakeDetector, frames: list[Frame]) -> list[tuple[Detection, float]]:
    """Run the detector over frames (in a worker thread); detections with their end time."""
    hits: list[tuple[Detection, float]] = []
    for samples, ts in frames:
        detection = detector.process(samples)
        if detection is not None:
            hits.append((detection, ts + samples.size / SAMPLE_RATE))
    return hits


def frame_ts(message: RawMessage, samples: int) -> float:
    """Capture time of a frame's first sample: its ``ts`` property, else arrival time."""
    raw = message.properties.get("ts")
    if raw is not None:
        with contextlib.suppress(ValueError):
            return float(raw)
    return time.time() - samples / SAMPLE_RATE


def control_satellite(satellite: str) -> str | None:
    """Satellite field of a tts/control for ``satellite`` (TTS calls the local card None)."""
    return None if satellite == LOCAL else satellite


class WakeService:
    """Detects the wake word on every satellite and runs barge-in against TTS."""

    name = "wake"

    def __init__(
        self,
        settings: WakeSettings,
        *,
        detector_factory: DetectorFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        worker_limits: WorkerLimits | None = None,
    ) -> None:
        """Prepare the service; models load in `run` (or on a satellite's first audio).

        Args:
            settings: ``WAKE_*`` settings.
            detector_factory: Builds a detector (tests pass a fake); default loads the model.
            clock: Monotonic seconds for the barge-in windows.
            worker_limits: Per-satellite worker bounds; default from ``settings``.
        """
        self._settings = settings
        self._config: BargeInConfig = settings.barge_in()
        self._factory = detector_factory or self._load_detector
        self._clock = clock
        self._limits = worker_limits or settings.worker_limits()
        self._bus: Bus | None = None
        self._workers: SatelliteWorkers[Frame, WakeDetector] | None = None
        self._barge: dict[str, BargeIn] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._spare: list[WakeDetector] = []
        self._ready = asyncio.Event()
        # Detection has threads of its own so slow work elsewhere in the process (Whisper
        # when stt runs beside us) can never delay a wake word.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wake-detect")

    @property
    def bus(self) -> Bus:
        """The bus, once attached."""
        if self._bus is None:
            raise RuntimeError("wake service is not attached to a bus")
        return self._bus

    @property
    def workers(self) -> SatelliteWorkers[Frame, WakeDetector]:
        """The per-satellite detector workers, once attached."""
        if self._workers is None:
            raise RuntimeError("wake service is not attached to a bus")
        return self._workers

    def barge_in(self, satellite: str) -> BargeIn:
        """The barge-in machine of ``satellite`` (created on first use)."""
        machine = self._barge.get(satellite)
        if machine is None:
            machine = self._barge[satellite] = BargeIn(self._config)
        return machine

    def _load_detector(self) -> WakeDetector:
        from tars.services.wake.micro import load_detector

        settings = self._settings
        return load_detector(
            settings.model,
            threshold=settings.detection_threshold,
            retrigger_s=settings.min_retrigger_sec,
            energy_window_s=settings.detection_window_ms / 1000,
        )

    # -- lifecycle ---------------------------------------------------------------
    def attach(self, bus: Bus) -> None:
        """Subscribe to audio, TTS status and transcripts."""
        self._bus = bus
        self._workers = SatelliteWorkers(
            bus,
            self._detect_frames,
            self._open_detector,
            limits=self._limits,
            on_removed=self._forget,
        )
        bus.subscribe_raw(PCM_PATTERN, self._on_pcm)
        bus.subscribe(TOPIC_TTS_STATUS, self._on_tts_status)
        bus.subscribe(TOPIC_STT_FINAL, self._on_final)
        bus.subscribe(TOPIC_STT_PARTIAL, self._on_partial)
        bus.subscribe(TOPIC_STT_BARGE_IN, self._on_voice, priority=True)
        bus.subscribe(TOPIC_STT_REJECTED, self._on_rejected)

    async def run(self) -> None:
        """Load one detector off the loop, report ready, then supervise the workers.

        The first detector is loaded here so a missing or broken model fails the service at
        start; the per-satellite workers then run until the service stops.
        """
        await self.bus.set_health(True, "loading")
        started = time.perf_counter()
        detector = await asyncio.to_thread(self._factory)
        self._spare.append(detector)
        self._ready.set()
        _LOGGER.info("wake detector %s ready in %.2f s", detector.wake_word, _since(started))
        await self.bus.set_health(True, "ready")
        try:
            await self.workers.run()
        finally:
            await self._stop_timers()

    async def _stop_timers(self) -> None:
        timers = list(self._timers.values())
        self._timers.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    # -- audio -------------------------------------------------------------------------
    async def _on_pcm(self, message: RawMessage) -> None:
        satellite = satellite_of(message.topic)
        if satellite is None or len(message.payload) < 2:
            return
        samples = np.frombuffer(message.payload[: len(message.payload) // 2 * 2], dtype="<i2")
        frame = (samples.astype(np.int16), frame_ts(message, samples.size))
        self.workers.put(satellite, frame)

    async def _open_detector(self, satellite: str) -> WakeDetector:
        """A detector for a satellite's worker: the one loaded at start, else a new one."""
        detector = self._spare.pop() if self._spare else await asyncio.to_thread(self._factory)
        _LOGGER.info("listening for %s on %s", detector.wake_word, satellite)
        return detector

    async def _detect_frames(
        self, satellite: str, detector: WakeDetector, queue: asyncio.Queue[Frame]
    ) -> None:
        """One satellite's worker: batches of frames through its detector, in a thread.

        A detector error is left to propagate: the supervisor logs it and restarts the
        worker with a fresh detector, whose stream state is known good.
        """
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(queue.get_nowait())
            hits = await loop.run_in_executor(self._pool, _detect, detector, batch)
            for detection, end_ts in hits:
                await self._on_detection(satellite, detection, end_ts)

    def _forget(self, satellite: str) -> None:
        """Drop a closed satellite's barge-in machine, unless it still has work to do.

        An open window must still end on its timer, and TTS playing there must stay known,
        so only a machine at rest (as good as a new one) is dropped.
        """
        machine = self._barge.get(satellite)
        if machine is not None and machine.at_rest:
            del self._barge[satellite]

    async def _on_detection(self, satellite: str, detection: Detection, end_ts: float) -> None:
        self.bus.metrics.inc("detections")
        _LOGGER.info(
            "wake word %s on %s p=%.2f energy=%.0f",
            detection.wake_word,
            satellite,
            detection.probability,
            detection.energy,
        )
        actions = self.barge_in(satellite).on_detection(self._clock(), detection)
        await self._apply(satellite, actions, end_ts)

    # -- other inputs ------------------------------------------------------------------
    async def _on_tts_status(self, message: Message) -> None:
        status = message.data
        state = _TTS_STATES.get(status.event)
        if state is None:
            return
        satellite = status.satellite or LOCAL
        actions = self.barge_in(satellite).on_tts_status(state, status.utt_id, self._clock())
        await self._apply(satellite, actions)

    async def _on_partial(self, message: Message) -> None:
        satellite = message.data.satellite or LOCAL
        if satellite in self._barge:
            await self._apply(satellite, self._barge[satellite].on_speech(self._clock()))

    async def _on_voice(self, message: Message) -> None:
        barge_in = message.data
        satellite = barge_in.satellite or LOCAL
        actions = self.barge_in(satellite).on_voice(self._clock())
        # The interrupt's ts is where the speech began: stt must keep all of it.
        await self._apply(satellite, actions, barge_in.speech_start_ts)

    async def _on_rejected(self, message: Message) -> None:
        satellite = message.data.satellite or LOCAL
        if satellite in self._barge:
            await self._apply(satellite, self._barge[satellite].on_rejected(self._clock()))

    async def _on_final(self, message: Message) -> None:
        final = message.data
        satellite = final.satellite or LOCAL
        if satellite in self._barge:
            actions = self._barge[satellite].on_transcript(final.text, self._clock())
            await self._apply(satellite, actions)

    # -- actions and timers -------------------------------------------------------------
    async def _apply(self, satellite: str, actions: list[Action], ts: float | None = None) -> None:
        for action in actions:
            await self._perform(satellite, action, ts)
        self._reschedule(satellite)

    async def _perform(self, satellite: str, action: Action, ts: float | None) -> None:
        bus = self.bus
        target = control_satellite(satellite)
        match action:
            case EmitWake(detection=detection, cause=cause):
                await bus.publish(TOPIC_WAKE_EVENT, _event("wake", satellite, detection, ts, cause))
            case EmitInterrupt(tts_id=tts_id, detection=detection, cause=cause):
                event = _event("interrupt", satellite, detection, ts, cause, tts_id=tts_id)
                await bus.publish(TOPIC_WAKE_EVENT, event)
            case OpenMic(ttl_s=ttl_s):
                command = WakeMicCommand(
                    action="unmute", reason="wake", ttl_ms=round(ttl_s * 1000), satellite=satellite
                )
                await bus.publish(TOPIC_WAKE_MIC, command)
            case TtsPause(tts_id=tts_id, reason=reason):
                control = TtsControl(action="pause", reason=reason, id=tts_id, satellite=target)
                await bus.publish(TOPIC_TTS_CONTROL, control)
            case TtsResume(tts_id=tts_id):
                control = TtsControl(action="resume", reason="timeout", id=tts_id, satellite=target)
                await bus.publish(TOPIC_TTS_CONTROL, control)
            case TtsStop(tts_id=tts_id):
                control = TtsControl(action="stop", reason="barge_in", id=tts_id, satellite=target)
                await bus.publish(TOPIC_TTS_CONTROL, control)
            case EmitResume(tts_id=tts_id, cause=cause):
                event = WakeEvent(type="resume", tts_id=tts_id, cause=cause, satellite=satellite)
                await bus.publish(TOPIC_WAKE_EVENT, event)
            case EmitCancelled(tts_id=tts_id):
                event = WakeEvent(
                    type="cancelled", tts_id=tts_id, cause="cancel", satellite=satellite
                )
                await bus.publish(TOPIC_WAKE_EVENT, event)
                if tts_id is not None:
                    await bus.publish(TOPIC_LLM_CANCEL, LLMCancel(id=tts_id, reason="cancel"))
            case NewTurn(tts_id=tts_id):
                event = WakeEvent(
                    type="cancelled", tts_id=tts_id, cause="new_turn", satellite=satellite
                )
                await bus.publish(TOPIC_WAKE_EVENT, event)
            case EmitTimeout(cause=cause):
                await bus.publish(
                    TOPIC_WAKE_EVENT, WakeEvent(type="timeout", cause=cause, satellite=satellite)
                )
        bus.metrics.inc(f"action.{type(action).__name__}")

    def _reschedule(self, satellite: str) -> None:
        current = self._timers.pop(satellite, None)
        if current is not None and current is not asyncio.current_task():
            current.cancel()
        deadline = self.barge_in(satellite).next_deadline()
        if deadline is None:
            return
        self._timers[satellite] = asyncio.create_task(
            self._expire_at(satellite, deadline), name=f"wake:timer:{satellite}"
        )

    async def _expire_at(self, satellite: str, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - self._clock()))
        with log_context(satellite=satellite):
            actions = self.barge_in(satellite).on_tick(self._clock())
            if actions:
                _LOGGER.info("barge-in window on %s expired: %s", satellite, actions)
            await self._apply(satellite, actions)


def _event(
    kind: str,
    satellite: str,
    detection: Detection | None,
    ts: float | None,
    cause: str,
    *,
    tts_id: str | None = None,
) -> WakeEvent:
    return WakeEvent.model_validate(
        {
            "type": kind,
            "tts_id": tts_id,
            "confidence": None if detection is None else min(1.0, detection.probability),
            "energy": None if detection is None else detection.energy,
            "cause": cause,
            "ts": ts,
            "satellite": satellite,
            "wake_word": None if detection is None else detection.wake_word,
        }
    )


def _since(started: float) -> float:
    return time.perf_counter() - started


def build(runtime: RuntimeSettings) -> WakeService:
    """Build the wake service from ``WAKE_*`` settings and ``TARS_SATELLITES``."""
    # The bundled models need no data directory; the runtime gives the satellite allowlist.
    settings = WakeSettings()
    return WakeService(settings, worker_limits=settings.worker_limits(runtime.satellites))
