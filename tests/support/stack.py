"""Real services run in the test's process, each on its own broker login and stop switch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tars.contracts.health import HEALTH_PATTERN, HEALTH_PREFIX
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service, serve
from tests.support.broker import TestBroker
from tests.support.collect import Collector

_STOP_GRACE_S = 2.5


def _ready(service: str, since: float) -> Callable[[Message], bool]:
    topic = f"{HEALTH_PREFIX}{service}"

    def ready(message: Message) -> bool:
        ping = message.data
        fresh = ping.timestamp >= since
        return (
            message.topic == topic and ping.ok and (ping.event or "").startswith("ready") and fresh
        )

    return ready


class ServiceStack:
    """Starts services like `tars up` would (one bus each) and stops them one by one."""

    def __init__(self, broker: TestBroker) -> None:
        self._broker = broker
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self.health = Collector()
        """Every health status seen (retained ones included)."""
        self._observer: MqttBus = broker.bus("cli", health=False)
        self._observer.subscribe(HEALTH_PATTERN, self.health)
        self._observer_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ServiceStack:
        self._observer_task = asyncio.create_task(self._observer.run(), name="test:observer")
        await asyncio.wait_for(self._observer.wait_connected(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for name in list(self._tasks):
            await self.stop(name)
        if self._observer_task is not None:
            self._observer_task.cancel()
            await asyncio.gather(self._observer_task, return_exceptions=True)

    async def start(self, *services: Service, timeout_s: float = 60.0) -> None:
        """Start ``services`` and return once each reports ready (a fresh status)."""
        since = time.time()
        for service in services:
            stop = asyncio.Event()
            bus = self._broker.bus(service.name)
            self._stops[service.name] = stop
            self._tasks[service.name] = asyncio.create_task(
                serve(service, bus, stop, heartbeat_s=2.0), name=f"test:{service.name}"
            )
        for service in services:
            await self.health.wait_for(_ready(service.name, since), timeout_s)

    async def stop(self, name: str) -> None:
        """Stop one service the way SIGTERM would (it announces ``shutdown`` first)."""
        self._stops.pop(name).set()
        task = self._tasks.pop(name)
        done, _ = await asyncio.wait({task}, timeout=_STOP_GRACE_S)
        while not done:
            # Python 3.11's asyncio.wait_for (inside aiomqtt's publish) can lose a
            # cancellation that lands as the publish completes; the service then sleeps on
            # in "cancelling" state. A second cancel gets through.
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=_STOP_GRACE_S)
