"""Mic service: publish 16 kHz mono s16le frames on ``audio/<satellite>/pcm``.

Frames come from a sound card (`SoundDeviceSource`) or, when ``MIC_FILE`` is set, from a WAV
file played like a microphone (`FileSource`). Each frame is one QoS 0 binary message with
the MQTT v5 user properties ``seq`` (frame number) and ``ts`` (capture time of the first
sample, Unix seconds), so consumers can map audio time to wall-clock time.
"""

from __future__ import annotations

import logging

from tars.audio.pcm import int16_to_bytes
from tars.contracts.audio import PCM_SAMPLE_RATE, pcm_topic
from tars.runtime.bus import Bus
from tars.runtime.settings import RuntimeSettings
from tars.services.mic.device import NoInputDeviceError, SoundDeviceSource
from tars.services.mic.settings import MicSettings
from tars.services.mic.sources import AudioFrame, AudioSource, FileSource, MicError

_LOGGER = logging.getLogger(__name__)


def frame_properties(frame: AudioFrame) -> dict[str, str]:
    """MQTT user properties of one published frame (``seq``, ``ts``, ``rate``)."""
    return {"seq": str(frame.seq), "ts": f"{frame.ts:.6f}", "rate": str(PCM_SAMPLE_RATE)}


async def publish_frames(bus: Bus, satellite: str, source: AudioSource) -> int:
    """Publish every frame of an opened ``source`` on the satellite's PCM topic.

    Returns:
        The number of frames published.
    """
    topic = pcm_topic(satellite)
    count = 0
    async for frame in source:
        await bus.publish_raw(
            topic, int16_to_bytes(frame.samples), properties=frame_properties(frame), qos=0
        )
        count += 1
    return count


class MicService:
    """Captures one audio source and publishes it as the configured satellite."""

    name = "mic"

    def __init__(self, settings: MicSettings) -> None:
        """Keep the settings; nothing is opened before `run`."""
        self._settings = settings
        self._bus: Bus | None = None

    @property
    def bus(self) -> Bus:
        """The bus, once attached."""
        if self._bus is None:
            raise RuntimeError("mic service is not attached to a bus")
        return self._bus

    def attach(self, bus: Bus) -> None:
        """Remember the bus (the mic subscribes to nothing)."""
        self._bus = bus

    def _source(self) -> AudioSource:
        settings = self._settings
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

    async def run(self) -> None:
        """Open the source and publish frames until it ends or the service stops.

        Raises:
            NoInputDeviceError: there is no usable input device (the message names the fix).
            MicError: the source failed.
        """
        bus = self.bus
        await bus.wait_connected()
        source = self._source()
        try:
            async with source:
                await bus.set_health(True, "ready")
                frames = await publish_frames(bus, self._settings.satellite_id, source)
        except NoInputDeviceError as err:
            _LOGGER.error("no microphone: %s", err)
            await bus.set_health(False, "no_input_device", str(err))
            raise
        except MicError as err:
            await bus.set_health(False, "error", str(err))
            raise
        _LOGGER.info("audio source ended after %d frames", frames)
        await bus.set_health(True, "source_ended")


def build(runtime: RuntimeSettings) -> MicService:
    """Build the mic service from ``MIC_*`` settings."""
    del runtime  # the mic keeps no data
    return MicService(MicSettings())
