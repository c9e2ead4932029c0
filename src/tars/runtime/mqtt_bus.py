"""The production bus: aiomqtt (MQTT v5) with one supervised reconnect loop."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tars.contracts.base import new_id
from tars.contracts.codec import encode_message
from tars.contracts.health import HealthPing, health_topic
from tars.runtime.bus import BaseBus, Dedupe
from tars.runtime.settings import MqttSettings

_LOGGER = logging.getLogger(__name__)
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class MqttBus(BaseBus):
    """Bus over a real broker.

    ``health=False`` makes a plain client (the `tars` command) with no Last-Will
    and no health of its own.

    One loop owns the connection: connect (with a Last-Will that marks this
    service unhealthy), subscribe everything, re-announce health, then read
    messages until the connection drops, back off and repeat. QoS 1 publishes
    made while disconnected wait for the next connection; QoS 0 ones are
    dropped and counted.
    """

    def __init__(self, service: str, settings: MqttSettings, *, health: bool = True) -> None:
        super().__init__(
            service,
            dedupe=Dedupe(settings.dedupe_ttl_s, settings.dedupe_max_entries),
            wire=settings.wire,
        )
        self._settings = settings
        self._announce = health
        self._client: aiomqtt.Client | None = None
        prefix = settings.client_id or f"tars-{service}"
        self.client_id = f"{prefix}-{new_id()[:8]}"

    def _will(self) -> aiomqtt.Will | None:
        if not self._announce:  # command-line clients have no health of their own
            return None
        lost = HealthPing(ok=False, event="lost", err="connection lost")
        topic = health_topic(self.service)
        # Health has no TARS additions, so the Will needs no user properties in any wire.
        payload = encode_message(topic, lost, wire=self.wire, source=self.service).payload
        return aiomqtt.Will(topic, payload, qos=1, retain=True)

    def _session_expiry(self) -> int:
        # The broker keeps queueing a shared subscription's share for a disconnected
        # session: a dead pool worker would swallow its part of the requests until the
        # session expires. A pool worker's session ends with its connection instead.
        if any(sub.pattern.startswith("$share/") for sub in self._subscriptions):
            return 0
        return self._settings.session_expiry_s

    def _make_client(self) -> aiomqtt.Client:
        host, port, username, password = self._settings.endpoint()
        connect_properties = Properties(PacketTypes.CONNECT)
        connect_properties.SessionExpiryInterval = self._session_expiry()
        client = aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=self._will(),
            keepalive=self._settings.keepalive_s,
            properties=connect_properties,
            socket_options=_NODELAY,
            max_concurrent_outgoing_calls=None,
        )
        # Concurrent QoS 1 publishes are normal here (every handler may publish);
        # aiomqtt warns past 10 by default.
        client.pending_calls_threshold = 1000
        return client

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled."""
        self._start_all_workers()
        delay = self._settings.reconnect_min_s
        try:
            while True:
                try:
                    await self._session()
                except aiomqtt.MqttError as err:
                    self.metrics.inc("disconnects")
                    _LOGGER.warning(
                        "broker %s unreachable (%s); retrying in %.1fs",
                        self._settings.redacted_url(),
                        err,
                        delay,
                    )
                finally:
                    self._connected.clear()
                    self._client = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._settings.reconnect_max_s)
        finally:
            await self._stop_workers()

    async def _session(self) -> None:
        async with self._make_client() as client:
            await self._subscribe_all(client)
            self._client = client
            self._connected.set()
            _LOGGER.info("connected to %s as %s", self._settings.redacted_url(), self.client_id)
            if self._announce:
                await self.republish_health()
            async for message in client.messages:
                self._receive(message)

    async def _subscribe_all(self, client: aiomqtt.Client) -> None:
        for sub in self._subscriptions:
            properties = Properties(PacketTypes.SUBSCRIBE)
            properties.SubscriptionIdentifier = sub.ident
            await client.subscribe(sub.pattern, qos=sub.qos, properties=properties)

    def _receive(self, message: aiomqtt.Message) -> None:
        payload = message.payload  # paho always hands over the received bytes
        user_properties: dict[str, str] = {}
        subscription_ids: frozenset[int] | None = None
        if message.properties is not None:
            for key, value in getattr(message.properties, "UserProperty", []):
                user_properties[key] = value
            ids = getattr(message.properties, "SubscriptionIdentifier", None)
            if ids:
                subscription_ids = frozenset(ids)
        self._dispatch(
            message.topic.value,
            bytes(payload),
            properties=user_properties,
            retained=message.retain,
            subscription_ids=subscription_ids,
        )

    async def _transmit(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        properties: Mapping[str, str] | None,
    ) -> None:
        task = asyncio.current_task()
        cancels = 0 if task is None else task.cancelling()
        await self._send(topic, payload, qos=qos, retain=retain, properties=properties)
        if task is not None and task.cancelling() > cancels:
            # aiomqtt awaits each publish with asyncio.wait_for, which on Python 3.11 returns
            # normally when a cancellation lands in the loop iteration the publish completes
            # in (CPython gh-86296, fixed in 3.12): the cancelled caller would carry on as if
            # nothing happened (a TTS lane streaming audio played on through a shutdown).
            raise asyncio.CancelledError

    async def _send(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        properties: Mapping[str, str] | None,
    ) -> None:
        mqtt_properties = None
        if properties:
            mqtt_properties = Properties(PacketTypes.PUBLISH)
            mqtt_properties.UserProperty = list(properties.items())
        if qos == 0:
            client = self._client
            if client is None:
                self.metrics.inc("dropped_disconnected")
                return
            try:
                await client.publish(
                    topic, payload, qos=0, retain=retain, properties=mqtt_properties
                )
            except aiomqtt.MqttError:
                self.metrics.inc("dropped_disconnected")
            return
        await self._publish_reliably(topic, payload, qos, retain, mqtt_properties)

    async def _publish_reliably(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties | None
    ) -> None:
        # At-least-once: wait for a connection, and if it drops before the
        # acknowledgement, send again on the next one (consumers de-duplicate).
        deadline = asyncio.get_running_loop().time() + self._settings.publish_timeout_s
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                self.metrics.inc("publish_failures")
                raise TimeoutError(f"no broker connection to publish {topic}")
            await asyncio.wait_for(self._connected.wait(), remaining)
            client = self._client
            if client is None:
                continue
            try:
                await client.publish(
                    topic, payload, qos=qos, retain=retain, properties=properties, timeout=remaining
                )
                return
            except aiomqtt.MqttError:
                self.metrics.inc("publish_retries")
                await asyncio.sleep(0.05)
