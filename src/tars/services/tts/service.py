"""The TTS service: ``tts/say`` in, audio out per satellite, ``tts/status`` events, controls.

Each satellite gets its own ordered lane (:mod:`tars.services.tts.queue`): the local one
plays on the sound card (or WAV files, or nowhere), remote ones send raw s16le pieces on
``tts/audio/<satellite>``. Synthesis runs in worker threads, sentence by sentence, so a
reply starts playing once its first sentence is ready. ``tts/control`` has its own bus
subscription and acts on the players directly, so it is never stuck behind playback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tars.contracts.audio import tts_audio_topic
from tars.contracts.tts import (
    TOPIC_TTS_CONTROL,
    TOPIC_TTS_SAY,
    TOPIC_TTS_STATUS,
    TtsControl,
    TtsSay,
    TtsStatus,
)
from tars.runtime.bus import Bus, Message
from tars.runtime.malloc import release_free_memory
from tars.runtime.settings import RuntimeSettings
from tars.services.tts.cache import PhraseCache
from tars.services.tts.errors import SinkUnavailableError
from tars.services.tts.player import Player
from tars.services.tts.queue import LaneContext, Piece, SatelliteLane, StoppedReplies
from tars.services.tts.settings import SinkKind, TtsSettings
from tars.services.tts.sinks import AudioSink, WavFileSink, create_sink
from tars.services.tts.synth import Synthesizer, load_synthesizer

_LOGGER = logging.getLogger(__name__)

LOCAL = "local"
"""Satellite id of this machine's own output (``TtsSay.satellite`` None)."""

SinkFactory = Callable[[str], AudioSink]
"""Builds the sink of a local lane from its satellite id (tests inject their own)."""


class TtsService:
    """Speaks ``tts/say`` pieces per satellite, in order, with pause, resume and stop."""

    name = "tts"

    def __init__(
        self,
        settings: TtsSettings,
        data_dir: Path,
        *,
        synthesizer: Synthesizer | None = None,
        local_sink: SinkFactory | None = None,
    ) -> None:
        """Configure the service; engines load in :meth:`run`.

        Args:
            settings: TTS settings.
            data_dir: Base of relative ``wav_dir`` and ``cache_dir`` (``TARS_DATA_DIR``).
            synthesizer: A ready engine to use instead of loading one (tests, benches).
            local_sink: Sink factory for the local satellite instead of ``TTS_SINK``.
        """
        self._settings = settings
        self._wav_dir = _under(data_dir, settings.wav_dir)
        self._cache_dir = _under(data_dir, settings.cache_dir)
        self._synth = synthesizer
        self._local_sink = local_sink
        self._local_kind: SinkKind = settings.sink
        self._lanes: dict[str, SatelliteLane] = {}
        self._stopped = StoppedReplies(settings.stop_memory_s)
        self._muted = False
        self._ready = False
        self._bus: Bus | None = None
        self._context: LaneContext | None = None

    @property
    def synthesizer(self) -> Synthesizer | None:
        """The loaded engine (None before :meth:`run` has loaded it)."""
        return self._synth

    def attach(self, bus: Bus) -> None:
        """Subscribe to ``tts/say`` and (separately, so it never waits) ``tts/control``."""
        self._bus = bus
        self._context = LaneContext(
            publish_status=self._publish_status,
            metrics=bus.metrics,
            stopped=self._stopped,
            reply_idle_s=self._settings.reply_idle_s,
        )
        bus.subscribe(TOPIC_TTS_SAY, self._on_say)
        bus.subscribe(TOPIC_TTS_CONTROL, self._on_control, priority=True)

    async def run(self) -> None:
        """Load the voice and the phrase cache off the loop, report ready, serve until cancelled.

        Raises:
            SynthesizerUnavailableError: no speech engine could be loaded.
        """
        bus, context = self._require()
        await bus.set_health(True, "loading")
        try:
            began = time.perf_counter()
            synth = self._synth
            if synth is None:
                synth = await asyncio.to_thread(load_synthesizer, self._settings)
            _LOGGER.info(
                "voice %s loaded in %.2f s (%d Hz)",
                synth.voice_id,
                time.perf_counter() - began,
                synth.sample_rate,
            )
            context.cache = await asyncio.to_thread(self._load_cache, synth)
            if self._local_sink is None:
                self._local_kind = await asyncio.to_thread(usable_local_sink, self._settings)
        except Exception as err:
            await bus.set_health(False, "error", str(err))
            raise
        self._synth = synth
        await asyncio.to_thread(release_free_memory)  # what loading the voice freed
        self._ready = True
        for lane in self._lanes.values():
            self._start_lane(lane)
        await bus.set_health(True, "ready")
        try:
            await asyncio.Event().wait()
        finally:
            for lane in list(self._lanes.values()):
                await lane.close()

    # -- handlers ---------------------------------------------------------------------
    async def _on_say(self, message: Message) -> None:
        say: TtsSay = message.data
        if self._muted:
            self._require()[0].metrics.inc("dropped_muted")
            return
        if say.voice or say.lang or say.style:
            _LOGGER.debug("voice, lang and style overrides are not supported; using the default")
        self._lane(say.satellite or LOCAL).enqueue(Piece(say, time.perf_counter()))

    async def _on_control(self, message: Message) -> None:
        control: TtsControl = message.data
        action, reason = control.action, control.reason
        _LOGGER.info("control %s (%s) id=%s", action, reason or "-", control.id)
        if action in ("mute", "unmute"):
            self._muted = action == "mute"
            if self._muted:
                for lane in self._select(control.satellite):
                    if lane.busy:
                        await lane.stop(None, reason or "mute")
            return
        if action == "stop" and control.id is not None:
            # Pieces of that reply that have not arrived yet are dropped on arrival too.
            self._stopped.add(control.id)
        for lane in self._select(control.satellite):
            if action == "resume":
                if lane.paused and (
                    control.id is None or lane.reply is None or lane.targets(control.id)
                ):
                    await lane.resume(reason)
                continue
            explicit = control.satellite is not None and control.id is None
            if not (explicit or lane.targets(control.id)):
                continue
            if action == "pause":
                await lane.pause(reason)
            else:
                await lane.stop(control.id, reason)

    # -- lanes ------------------------------------------------------------------------
    def _select(self, satellite: str | None) -> list[SatelliteLane]:
        if satellite is None:
            return list(self._lanes.values())
        return [self._lane(satellite)]

    def _lane(self, satellite: str) -> SatelliteLane:
        lane = self._lanes.get(satellite)
        if lane is not None:
            return lane
        bus, context = self._require()
        remote = satellite != LOCAL or (self._local_sink is None and self._local_kind == "mqtt")
        lane = SatelliteLane(satellite, context, remote=remote)
        if remote:
            context.audio_out[satellite] = functools.partial(
                _publish_audio, bus, tts_audio_topic(satellite)
            )
        self._lanes[satellite] = lane
        if self._ready:
            self._start_lane(lane)
        return lane

    def _start_lane(self, lane: SatelliteLane) -> None:
        assert self._synth is not None, "lanes start once the voice is loaded"
        lane.start(Player(self._synth, self._sink_for(lane)))
        _LOGGER.info("satellite %s: playing via %s", lane.satellite, self._sink_name(lane))

    def _sink_for(self, lane: SatelliteLane) -> AudioSink:
        settings = self._settings
        if lane.remote:
            return create_sink("mqtt", settings, send=lane.send_audio)
        if self._local_sink is not None:
            return self._local_sink(lane.satellite)
        if self._local_kind == "wav":
            self._wav_dir.mkdir(parents=True, exist_ok=True)
            return WavFileSink(self._wav_dir, paced=settings.wav_paced)
        return create_sink(self._local_kind, settings)

    def _sink_name(self, lane: SatelliteLane) -> str:
        if lane.remote:
            return tts_audio_topic(lane.satellite)
        if self._local_sink is not None:
            return "an injected sink"
        return f"{self._local_kind} sink" + (
            f" ({self._wav_dir})" if self._local_kind == "wav" else ""
        )

    # -- helpers ----------------------------------------------------------------------
    def _load_cache(self, synth: Synthesizer) -> PhraseCache | None:
        """Open the phrase cache and synthesise the preload phrases (blocking)."""
        settings = self._settings
        if not settings.cache_enable:
            return None
        try:
            cache = PhraseCache(self._cache_dir, synth, max_entries=settings.cache_size)
            cache.preload(settings.preload_phrases)
        except OSError as err:
            _LOGGER.warning("phrase cache disabled: %s", err)
            return None
        return cache

    async def _publish_status(self, status: TtsStatus) -> None:
        await self._require()[0].publish(TOPIC_TTS_STATUS, status)

    def _require(self) -> tuple[Bus, LaneContext]:
        if self._bus is None or self._context is None:
            raise RuntimeError("TtsService.attach() must be called first")
        return self._bus, self._context


async def _publish_audio(bus: Bus, topic: str, pcm: bytes, properties: Mapping[str, str]) -> None:
    await bus.publish_raw(topic, pcm, properties=properties)


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else base / path


def usable_local_sink(settings: TtsSettings) -> SinkKind:
    """The configured local sink, or ``wav`` when ``sounddevice`` has no output device.

    Blocking (queries PortAudio): run off the event loop.
    """
    if settings.sink != "sounddevice":
        return settings.sink
    # Imported here: the device module pulls in the sound-card machinery.
    from tars.services.tts.device import check_output_device

    name = settings.output_device.strip()
    try:
        check_output_device(int(name) if name.isdigit() else (name or None))
    except SinkUnavailableError as err:
        _LOGGER.warning(
            "TTS_SINK=sounddevice but %s: local speech goes to WAV files instead "
            "(set TTS_SINK=wav or TTS_SINK=null to choose explicitly)",
            err,
        )
        return "wav"
    return "sounddevice"


def build(runtime: RuntimeSettings) -> TtsService:
    """Build the TTS service from ``TTS_*`` settings (used by ``tars run tts``)."""
    return TtsService(TtsSettings(), runtime.data_dir)
