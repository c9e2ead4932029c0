"""Mic service: publish 16 kHz mono s16le frames on ``audio/<satellite>/pcm``.

Frames come from a sound card (`SoundDeviceSource`) or, when ``MIC_FILE`` is set, from a WAV
file played like a microphone (`FileSource`). Each frame is one QoS 0 binary message with
the MQTT v5 user properties ``seq`` (frame number) and ``ts`` (capture time of the first
sample, Unix seconds), so consumers can map audio time to wall-clock time.

With ``MIC_PLAYBACK`` the service also plays the satellite's replies (`playback`) and, unless
``MIC_AEC=off``, cancels their echo from every frame before publishing it (`echo`); such
frames carry the properties ``aec`` (the engine's name) and ``speaker`` (whether the speaker
played during the frame), which tell stt that this satellite hears the user over its own
speech (voice barge-in) and exactly when that speech is double talk.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from tars.audio.echo import WebRtcEchoCanceller
from tars.audio.pcm import int16_to_bytes
from tars.contracts.audio import PCM_SAMPLE_RATE, pcm_topic
from tars.runtime.bus import Bus
from tars.runtime.settings import RuntimeSettings
from tars.services.mic.device import NoInputDeviceError, SoundDeviceSource
from tars.services.mic.echo import EchoStage, frame_ms_ok
from tars.services.mic.playback import (
    AudioOutput,
    PlayoutBuffer,
    SatellitePlayback,
    SoundDeviceOutput,
)
from tars.services.mic.reference import FarEnd
from tars.services.mic.settings import MicSettings
from tars.services.mic.sources import AudioFrame, AudioSource, FileSource, MicError

_LOGGER = logging.getLogger(__name__)


def frame_properties(frame: AudioFrame, aec: str | None = None) -> dict[str, str]:
    """MQTT user properties of one published frame.

    ``seq``, ``ts`` and ``rate`` always; on an echo-cancelled stream ``aec`` (the engine)
    and ``speaker`` ("1" while the satellite's own speaker played during the frame, "0"
    otherwise), so listeners know, sample-accurately, when the user talks over TARS.
    """
    properties = {"seq": str(frame.seq), "ts": f"{frame.ts:.6f}", "rate": str(PCM_SAMPLE_RATE)}
    if aec is not None:
        properties["aec"] = aec
    if frame.speaker_active is not None:
        properties["speaker"] = "1" if frame.speaker_active else "0"
    return properties


async def publish_frames(
    bus: Bus, satellite: str, frames: AsyncIterator[AudioFrame], aec: str | None = None
) -> int:
    """Publish every frame on the satellite's PCM topic.

    Returns:
        The number of frames published.
    """
    topic = pcm_topic(satellite)
    count = 0
    async for frame in frames:
        await bus.publish_raw(
            topic, int16_to_bytes(frame.samples), properties=frame_properties(frame, aec), qos=0
        )
        count += 1
    return count


class MicService:
    """Captures one audio source and publishes it as the configured satellite."""

    name = "mic"

    def __init__(
        self,
        settings: MicSettings,
        *,
        source: AudioSource | None = None,
        output: AudioOutput | None = None,
        playout: PlayoutBuffer | None = None,
        far_end: FarEnd | None = None,
    ) -> None:
        """Keep the settings; nothing is opened before `run`.

        Args:
            settings: The ``MIC_*`` settings.
            source: Capture from this instead of the configured file or sound card.
            output: Play replies on this instead of the sound card (with ``playback``).
            playout: The buffer the output drains (one is made when None).
            far_end: Where the output records what it played (one is made when None).
        """
        self._settings = settings
        self._bus: Bus | None = None
        self._source = source
        self.playout = playout or PlayoutBuffer()
        """Reply audio waiting for the speaker (with ``playback``)."""
        self.far_end = far_end or FarEnd()
        """What the speaker played: the echo canceller's reference."""
        self._output = output
        self._playback: SatellitePlayback | None = None
        self.echo: EchoStage | None = None
        """The echo canceller stage, while running with playback and AEC on."""

    @property
    def bus(self) -> Bus:
        """The bus, once attached."""
        if self._bus is None:
            raise RuntimeError("mic service is not attached to a bus")
        return self._bus

    def attach(self, bus: Bus) -> None:
        """Remember the bus; with playback, subscribe to the satellite's reply audio."""
        self._bus = bus
        if self._settings.playback:
            self._playback = SatellitePlayback(self._settings.satellite_id, self.playout)
            self._playback.attach(bus)

    def _make_source(self) -> AudioSource:
        settings = self._settings
        if self._source is not None:
            return self._source
        if settings.file is not None:
            return FileSource(
                settings.file,
                frame_ms=settings.frame_ms,
                realtime=settings.realtime,
                loop=settings.loop_file,
                trailing_silence_s=settings.trailing_silence_sec,
            )
        return SoundDeviceSource(
            settings.device,
            frame_ms=settings.frame_ms,
            max_queue_frames=settings.max_queue_frames,
        )

    def _make_output(self) -> AudioOutput | contextlib.nullcontext[None]:
        if not self._settings.playback:
            return contextlib.nullcontext()
        if self._output is not None:
            return self._output
        return SoundDeviceOutput(self._settings.output_device, self.playout, self.far_end)

    def _make_echo(self, source: AudioSource) -> EchoStage | None:
        settings = self._settings
        if not settings.playback or settings.aec == "off":
            return None
        if not frame_ms_ok(source.frame_samples):
            raise MicError("echo cancelling needs frames of whole 10 ms (MIC_FRAME_MS)")
        return EchoStage(WebRtcEchoCanceller(), self.far_end, delay_ms=settings.aec_delay_ms)

    async def run(self) -> None:
        """Open the source (and speaker) and publish frames until it ends or the service stops.

        Raises:
            NoInputDeviceError: there is no usable input device (the message names the fix).
            MicError: the source or the output failed.
        """
        bus = self.bus
        await bus.wait_connected()
        source = self._make_source()
        try:
            self.echo = self._make_echo(source)
            async with self._make_output(), source:
                await bus.set_health(True, "ready")
                frames = await self._publish(source)
        except NoInputDeviceError as err:
            _LOGGER.error("no microphone: %s", err)
            await bus.set_health(False, "no_input_device", str(err))
            raise
        except (MicError, RuntimeError) as err:
            await bus.set_health(False, "error", str(err))
            raise
        finally:
            if self.echo is not None:
                self.echo.close()
        _LOGGER.info("audio source ended after %d frames", frames)
        await bus.set_health(True, "source_ended")

    async def _publish(self, source: AudioSource) -> int:
        satellite = self._settings.satellite_id
        echo = self.echo
        if echo is None:
            return await publish_frames(self.bus, satellite, aiter(source))
        _LOGGER.info("cancelling the speaker's echo with %s", echo.engine)
        return await publish_frames(self.bus, satellite, echo.frames(aiter(source)), echo.engine)


def build(runtime: RuntimeSettings) -> MicService:
    """Build the mic service from ``MIC_*`` settings."""
    del runtime  # the mic keeps no data
    return MicService(MicSettings())
