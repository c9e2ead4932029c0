"""Run any service on the test broker, the way `tars run` does, until a block ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from tars.contracts.health import HealthPing, health_topic
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service, serve
from tests.support.broker import BrokerUnderTest, running
from tests.support.collect import Collector


def is_ready(health: HealthPing) -> bool:
    """Default readiness: ``ok`` with an event starting with "ready"."""
    return health.ok and (health.event or "").startswith("ready")


@contextlib.asynccontextmanager
async def serving(
    broker: BrokerUnderTest,
    service: Service,
    *,
    ready: Callable[[HealthPing], bool] = is_ready,
    timeout_s: float = 60.0,
) -> AsyncIterator[MqttBus]:
    """Serve ``service`` logged in as its own broker user; yields its bus once it is ready."""
    watcher = broker.bus("cli", health=False)
    health = Collector()
    watcher.subscribe(health_topic(service.name), health)
    bus = broker.bus(service.name)
    stop = asyncio.Event()
    async with running(watcher):
        task = asyncio.create_task(
            serve(service, bus, stop, heartbeat_s=60, metrics_interval_s=60),
            name=f"test:serve:{service.name}",
        )
        waiting = asyncio.create_task(
            health.wait_for(lambda m: not m.retained and ready(m.data), timeout_s),
            name=f"test:ready:{service.name}",
        )
        try:
            done, _ = await asyncio.wait([waiting, task], return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                task.result()  # the service failed before it was ready: show why
            waiting.result()
            yield bus
        finally:
            waiting.cancel()
            stop.set()
            await asyncio.wait_for(task, 15)
