"""The bus interface services depend on: the message types, the Bus protocol, topic helpers.

Both transports (:class:`~tars.runtime.mqtt_bus.MqttBus` and the in-memory
:class:`~tars.runtime.memory_bus.MemoryBus`) build on the dispatch machinery in
:mod:`~tars.runtime.base_bus`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tars.contracts.envelope import Envelope
from tars.runtime.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded, validated JSON message."""

    topic: str
    envelope: Envelope[Any]
    retained: bool = False

    @property
    def data(self) -> Any:
        """The payload model."""
        return self.envelope.data


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A binary message (audio), with its MQTT v5 user properties."""

    topic: str
    payload: bytes
    properties: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Message], Awaitable[None]]
RawHandler = Callable[[RawMessage], Awaitable[None]]


class Bus(Protocol):
    """What a service may do with the bus; the MQTT and in-memory buses both provide it."""

    service: str
    metrics: Metrics

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        qos: int | None = None,
        workers: int = 1,
        priority: bool = False,
    ) -> None:
        """Call ``handler`` for every valid JSON message on ``pattern`` (register before run)."""

    def subscribe_raw(
        self, pattern: str, handler: RawHandler, *, qos: int = 0, priority: bool = False
    ) -> None:
        """Call ``handler`` for every binary message on ``pattern`` (register before run)."""

    async def publish(
        self,
        topic: str,
        data: Any,
        *,
        id: str | None = None,
        qos: int | None = None,
        retain: bool | None = None,
    ) -> str:
        """Envelope and publish a payload model; returns the envelope id."""

    async def publish_raw(
        self,
        topic: str,
        payload: bytes,
        *,
        properties: Mapping[str, str] | None = None,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish raw bytes (audio) with optional user properties."""

    async def request(
        self, topic: str, data: Any, *, reply_topic: str, timeout_s: float
    ) -> Message:
        """Publish ``data`` and wait for the reply on ``reply_topic`` with the same envelope id."""

    async def set_health(self, ok: bool, event: str | None = None, err: str | None = None) -> None:
        """Publish this service's retained health."""

    async def republish_health(self, event: str | None = None) -> None:
        """Re-send the current health with a fresh timestamp."""

    async def wait_connected(self) -> None:
        """Return once the bus is connected and subscribed."""

    async def run(self) -> None:
        """Connect and deliver messages until cancelled."""


def shared_topic(topic: str, group: str) -> str:
    """``topic`` as an MQTT v5 shared subscription of ``group`` (unchanged when ``group`` is "").

    Workers subscribed with the same group split the messages between them, each delivered
    to exactly one of them; a subscriber outside the group still gets every message.
    """
    return f"$share/{group}/{topic}" if group else topic


def topic_filter(pattern: str) -> str:
    """The topic filter of a subscription pattern, without a ``$share/<group>/`` prefix."""
    return pattern.split("/", 2)[2] if pattern.startswith("$share/") else pattern
