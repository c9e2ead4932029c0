"""The wake service's per-satellite detector workers: restart after a failure, the cap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
from tests.support.collect import Collector

from tars.audio.pcm import Int16Array, int16_to_bytes, rms
from tars.contracts.health import health_topic
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.runtime.workers import WorkerLimits
from tars.services.wake.detector import Detection, WakeDetector
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings

LOUD = int16_to_bytes(np.full(320, 9000, dtype=np.int16))


class ClapDetector:
    """Fires on every frame louder than 5000 RMS."""

    wake_word = "clap"

    def process(self, samples: Int16Array) -> Detection | None:
        level = rms(samples)
        return Detection("clap", 0.9, 0.5, level, 0.0) if level > 5000 else None

    def reset(self) -> None:
        pass


class BrokenDetector(ClapDetector):
    """Raises on the first audio it gets, as a model in a bad state would."""

    def process(self, samples: Int16Array) -> Detection | None:
        raise RuntimeError("interpreter in a bad state")


class Detectors:
    """Detector factory: the first detector built is broken, the rest work."""

    def __init__(self) -> None:
        self.built = 0

    def __call__(self) -> WakeDetector:
        self.built += 1
        return BrokenDetector() if self.built == 1 else ClapDetector()


@contextlib.asynccontextmanager
async def wake_running(
    service: WakeService,
) -> AsyncIterator[tuple[MemoryBus, MemoryBus, Collector, Collector]]:
    """The service on a memory bus, and a client collecting wake events and wake's health."""
    broker = MemoryBroker()
    bus, client = MemoryBus("wake", broker), MemoryBus("cli", broker)
    events, health = Collector(), Collector()
    client.subscribe(TOPIC_WAKE_EVENT, events)
    client.subscribe(health_topic("wake"), health)
    stop = asyncio.Event()
    served = asyncio.create_task(serve(service, bus, stop), name="test:wake")
    client_task = asyncio.create_task(client.run(), name="test:client")
    try:
        await client.wait_connected()
        await asyncio.wait_for(service._ready.wait(), 2)
        yield bus, client, events, health
    finally:
        stop.set()
        await asyncio.gather(served, return_exceptions=True)
        client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)


async def test_failing_detector_worker_is_restarted_with_a_new_detector() -> None:
    detectors = Detectors()
    service = WakeService(
        WakeSettings(),
        detector_factory=detectors,
        worker_limits=WorkerLimits(restart_s=0.0),
    )
    async with wake_running(service) as (bus, client, events, health):
        await client.publish_raw("audio/den/pcm", LOUD)
        restarted = await health.wait_for(
            lambda m: (m.data.event or "").startswith("worker den restarted"), 2
        )
        assert restarted.data.ok
        assert "RuntimeError: interpreter in a bad state" in (restarted.data.event or "")
        await client.publish_raw("audio/den/pcm", LOUD)
        wake = await events.wait_for(lambda m: m.data.type == "wake", 2)
        assert wake.data.satellite == "den"
        assert detectors.built == 2
        assert bus.metrics.count("workers.failed") == 1
        assert bus.metrics.count("workers.restarted") == 1
    assert not any(task.get_name().startswith("wake:worker:") for task in asyncio.all_tasks())


async def test_satellites_beyond_the_cap_close_the_least_recently_active() -> None:
    service = WakeService(WakeSettings(max_satellites=2), detector_factory=ClapDetector)
    async with wake_running(service) as (bus, client, events, _):
        quiet = int16_to_bytes(np.zeros(320, dtype=np.int16))
        for satellite in ("den", "hall"):
            await client.publish_raw(f"audio/{satellite}/pcm", quiet)
        await client.publish_raw("audio/attic/pcm", LOUD)
        # Audio is handled in order, so attic's wake event means every frame was queued.
        await events.wait_for(lambda m: m.data.satellite == "attic", 2)
        assert service.workers.keys() == ["hall", "attic"]
        assert bus.metrics.count("workers.evicted") == 1


async def test_satellites_outside_the_allowlist_get_no_worker() -> None:
    settings = WakeSettings(satellites="den")
    limits = settings.worker_limits("den|hall")
    service = WakeService(settings, detector_factory=ClapDetector, worker_limits=limits)
    async with wake_running(service) as (bus, client, events, _):
        for satellite in ("made-up-1", "hall", "made-up-2", "made-up-1"):
            await client.publish_raw(f"audio/{satellite}/pcm", LOUD)
        await client.publish_raw("audio/den/pcm", LOUD)
        await events.wait_for(lambda m: m.data.satellite == "den", 2)
        assert service.workers.keys() == ["den"]
        assert bus.metrics.count("workers.refused") == 4
        assert bus.metrics.count("workers.refused.not_allowed") == 3
        assert bus.metrics.count("workers.refused.not_owned") == 1
