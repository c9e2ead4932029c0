"""The production bus: aiomqtt (MQTT v5), each connection with its supervised reconnect loop."""

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
from tars.runtime.base_bus import BaseBus, Dedupe
from tars.runtime.mqtt_client import ConnackClient, SocketErrors
from tars.runtime.service import ServiceFailed
from tars.runtime.settings import MqttSettings
from tars.runtime.tls import explain_connect_error

_LOGGER = logging.getLogger(__name__)
_NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class BrokerUnsuitable(ServiceFailed):
    """The broker lacks an MQTT v5 feature this service's configuration needs."""


class MqttBus(BaseBus):
    """Bus over a real broker.

    ``health=False`` makes a plain client (the `tars` command) with no Last-Will
    and no health of its own.

    One loop owns the connection: connect (with a Last-Will that marks this
    service unhealthy), subscribe everything, re-announce health, then read
    messages until the connection drops, back off and repeat. QoS 1 publishes
    made while disconnected wait for the next connection; QoS 0 ones are
    dropped and counted.

    Priority subscriptions (control topics) are read on a second connection of their own
    (``<client id>-ctl``, same login and TLS, no Last-Will: health stays with the first), with
    its own reconnect loop, so a control message never queues behind a flood on the first
    connection, in the broker or in the socket. Everything is published on the first.
    """

    def __init__(self, service: str, settings: MqttSettings, *, health: bool = True) -> None:
        super().__init__(
            service,
            dedupe=Dedupe(settings.dedupe_ttl_s, settings.dedupe_max_entries),
            wire=settings.wire,
        )
        self._settings = settings
        self._announce = health
        self._tls = settings.tls_context()  # read once: the files were checked with the settings
        self._client: aiomqtt.Client | None = None
        self._last_error: str | None = None
        prefix = settings.client_id or f"tars-{service}"
        self.client_id = f"{prefix}-{new_id()[:8]}"
        self.control_client_id = f"{self.client_id}-ctl"
        """The client id of the connection for priority subscriptions."""
        # A logger of its own under aiomqtt's, so this bus sees its own socket errors.
        self._paho_logger = logging.getLogger("mqtt").getChild(self.client_id)
        self._socket_errors = SocketErrors()
        self._paho_logger.addHandler(self._socket_errors)
        self._control_ready = asyncio.Event()

    @property
    def last_error(self) -> str | None:
        """Why connecting fails (with a hint for TLS), for commands to show; None once connected."""
        if self._last_error is None and self._socket_errors.detail is None:
            return None
        return explain_connect_error(self._last_error or str(self._socket_errors.detail))

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

    def _make_client(self, *, control: bool = False) -> ConnackClient:
        host, port, username, password = self._settings.endpoint()
        connect_properties = Properties(PacketTypes.CONNECT)
        connect_properties.SessionExpiryInterval = self._session_expiry()
        identifier = self.control_client_id if control else self.client_id
        client = ConnackClient(
            host,
            port,
            username=username,
            password=password,
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=self._tls,
            will=None if control else self._will(),
            keepalive=self._settings.keepalive_s,
            properties=connect_properties,
            socket_options=_NODELAY,
            max_concurrent_outgoing_calls=None,
            logger=logging.getLogger("mqtt").getChild(identifier) if control else self._paho_logger,
        )
        # Concurrent QoS 1 publishes are normal here (every handler may publish);
        # aiomqtt warns past 10 by default.
        client.pending_calls_threshold = 1000
        return client

    async def wait_connected(self) -> None:
        """Return once connected and subscribed (the control connection too, if any)."""
        await self._connected.wait()
        if self._subscriptions.has_priority():
            await self._control_ready.wait()

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled (each connection apart)."""
        self._start_all_workers()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._keep_connected(), name=f"{self.client_id}:connection")
                if self._subscriptions.has_priority():
                    name = f"{self.control_client_id}:connection"
                    group.create_task(self._keep_connected(control=True), name=name)
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None  # what stopped the bus, as callers expect it
        finally:
            await self._stop_workers()

    async def _keep_connected(self, *, control: bool = False) -> None:
        delay = self._settings.reconnect_min_s
        while True:
            try:
                await (self._control_session() if control else self._session())
            except aiomqtt.MqttError as err:
                self._lost(err, delay, control=control)
            finally:
                if control:
                    self._control_ready.clear()
                else:
                    self._connected.clear()
                    self._client = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_s)

    def _lost(self, err: aiomqtt.MqttError, delay: float, *, control: bool) -> None:
        url = self._settings.redacted_url()
        if control:
            self.metrics.inc("control_disconnects")
            _LOGGER.warning(
                "control connection to %s lost (%s); retrying in %.1fs", url, err, delay
            )
            return
        self.metrics.inc("disconnects")
        socket_error = self._socket_errors.detail
        self._last_error = f"{err}: {socket_error}" if socket_error else str(err)
        self._socket_errors.detail = None
        _LOGGER.warning(
            "broker %s unreachable (%s); retrying in %.1fs", url, self.last_error, delay
        )

    async def _session(self) -> None:
        cancels = _cancels()
        async with self._make_client() as client:
            _reraise_lost_cancel(cancels)
            self._check_broker(client.connack_properties)
            await self._subscribe_all(client, priority=False)
            _reraise_lost_cancel(cancels)
            self._client = client
            self._last_error = self._socket_errors.detail = None
            self._connected.set()
            _LOGGER.info("connected to %s as %s", self._settings.redacted_url(), self.client_id)
            if self._announce:
                await self.republish_health()
            async for message in client.messages:
                self._receive(message, priority=False)

    async def _control_session(self) -> None:
        cancels = _cancels()
        async with self._make_client(control=True) as client:
            _reraise_lost_cancel(cancels)
            await self._subscribe_all(client, priority=True)
            _reraise_lost_cancel(cancels)
            self._control_ready.set()
            _LOGGER.info("control connection up as %s", self.control_client_id)
            async for message in client.messages:
                self._receive(message, priority=True)

    def _check_broker(self, connack: Properties | None) -> None:
        # A broker without shared subscriptions (ejabberd's mod_mqtt) drops the connection
        # at the $share subscribe; reconnecting would loop forever, so stop and say why.
        shared = [sub.pattern for sub in self._subscriptions if sub.pattern.startswith("$share/")]
        if shared and getattr(connack, "SharedSubscriptionAvailable", 1) == 0:
            self._last_error = (
                f"the broker {self._settings.redacted_url()} has no MQTT v5 shared "
                f"subscriptions, needed for {shared[0]} (a share group setting): run a "
                "single worker without a share group, or use a broker that has them"
            )
            raise BrokerUnsuitable(self.service, self._last_error)

    async def _subscribe_all(self, client: aiomqtt.Client, *, priority: bool = False) -> None:
        for pattern, qos, ident in self._subscriptions.broker_filters(priority):
            properties = Properties(PacketTypes.SUBSCRIBE)
            properties.SubscriptionIdentifier = ident
            await client.subscribe(pattern, qos=qos, properties=properties)

    def _receive(self, message: aiomqtt.Message, *, priority: bool) -> None:
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
            priority=priority,
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
        cancels = _cancels()
        await self._send(topic, payload, qos=qos, retain=retain, properties=properties)
        # A TTS lane streaming audio would otherwise play on through a shutdown.
        _reraise_lost_cancel(cancels)

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


def _cancels() -> int:
    """How many cancellations of the current task are pending (see `_reraise_lost_cancel`)."""
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


def _reraise_lost_cancel(before: int) -> None:
    """Raise the cancellation an aiomqtt call swallowed since ``_cancels()`` gave ``before``.

    aiomqtt awaits connect, subscribe and publish with ``asyncio.wait_for``, which on Python
    3.11 returns normally when a cancellation lands in the loop iteration the awaited call
    completes in (CPython gh-86296, fixed in 3.12). The cancelled task would carry on as if
    nothing happened, and a stopping service would never finish.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError
