"""An in-process broker and bus with real MQTT wildcard matching, for fast unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tars.contracts.registry import topic_matches
from tars.contracts.v1 import WireMode
from tars.runtime.base_bus import BaseBus, Dedupe


class MemoryBroker:
    """Delivers messages between MemoryBus instances of one process, with retained messages."""

    def __init__(self) -> None:
        self._clients: list[MemoryBus] = []
        self._retained: dict[str, tuple[bytes, dict[str, str]]] = {}

    def attach(self, client: MemoryBus) -> None:
        """Connect a bus and replay matching retained messages to it."""
        self._clients.append(client)
        for topic, (payload, properties) in self._retained.items():
            client.deliver(topic, payload, properties, retained=True)

    def detach(self, client: MemoryBus) -> None:
        """Disconnect a bus."""
        if client in self._clients:
            self._clients.remove(client)

    def route(self, topic: str, payload: bytes, properties: dict[str, str], retain: bool) -> None:
        """Deliver to every attached bus with a matching subscription."""
        if retain:
            if payload:
                self._retained[topic] = (payload, properties)
            else:
                self._retained.pop(topic, None)
        for client in list(self._clients):
            client.deliver(topic, payload, properties, retained=False)


class MemoryBus(BaseBus):
    """The Bus interface over a MemoryBroker: same decoding, queues and handlers as MQTT."""

    def __init__(self, service: str, broker: MemoryBroker, *, wire: WireMode = "tars") -> None:
        super().__init__(service, dedupe=Dedupe(30.0, 4096), wire=wire)
        self._broker = broker

    def deliver(
        self, topic: str, payload: bytes, properties: Mapping[str, str], *, retained: bool
    ) -> None:
        """Called by the broker for each routed message."""
        if any(topic_matches(sub.pattern, topic) for sub in self._subscriptions) or (
            self._is_reply(topic)
        ):
            self._dispatch(topic, payload, properties=properties, retained=retained)

    async def _transmit(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        properties: Mapping[str, str] | None,
    ) -> None:
        await self._connected.wait()
        self._broker.route(topic, payload, dict(properties or {}), retain)

    async def run(self) -> None:
        """Attach to the broker and serve until cancelled."""
        self._start_all_workers()
        self._broker.attach(self)
        self._connected.set()
        try:
            await self.republish_health()
            await asyncio.Event().wait()
        finally:
            self._connected.clear()
            self._broker.detach(self)
            await self._stop_workers()
