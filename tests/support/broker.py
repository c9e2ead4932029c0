"""A real Mosquitto broker for tests, on a free loopback port, with generated users and ACL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import SecretStr

from tars.runtime import broker
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import MqttSettings


class TestBroker:
    """A generated broker plus helpers to make buses for its users."""

    __test__ = False

    def __init__(self, directory: Path) -> None:
        self.config = broker.generate(directory)
        self.process = broker.MosquittoProcess(self.config)

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def settings(self, user: str, **overrides: object) -> MqttSettings:
        fields: dict[str, object] = {
            "url": SecretStr(self.config.url(user)),
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        }
        fields.update(overrides)
        return MqttSettings(**fields)  # type: ignore[arg-type]

    def bus(self, user: str, *, health: bool = True) -> MqttBus:
        return MqttBus(user, self.settings(user), health=health)


@contextlib.asynccontextmanager
async def running(*buses: MqttBus) -> AsyncIterator[None]:
    """Run buses in the background until the block ends."""
    tasks = [asyncio.create_task(bus.run(), name=f"test:{bus.service}") for bus in buses]
    try:
        for bus in buses:
            await asyncio.wait_for(bus.wait_connected(), 10.0)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
