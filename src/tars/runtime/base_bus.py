"""The dispatch machinery both transports share.

Every subscription owns a bounded queue and its own worker task(s)
(:mod:`~tars.runtime.subscriptions`), so a slow handler on one topic never delays another
topic. A ``priority`` subscription (a control topic: stop, cancel, barge-in) is also read
from the broker apart from the others where the transport can (MQTT: a second connection),
so it never waits behind a flood's backlog on the way in. Payloads are decoded once per
message through the contract codec; invalid ones are counted, logged (thinned, see
:mod:`~tars.runtime.lograte`) and dropped without disturbing the consumer.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
import time
from collections.abc import Hashable, Mapping
from typing import Any

from tars.contracts.base import new_id
from tars.contracts.codec import ContractError, decode, encode_message, spec_for
from tars.contracts.health import HealthPing, health_topic
from tars.contracts.limits import excerpt
from tars.contracts.registry import lookup
from tars.contracts.v1 import WireMode
from tars.runtime.bus import Handler, Message, RawHandler, RawMessage, topic_filter
from tars.runtime.lograte import LogBudget
from tars.runtime.logs import log_context
from tars.runtime.metrics import Metrics
from tars.runtime.replies import PendingReplies
from tars.runtime.subscriptions import Subscriptions

_LOGGER = logging.getLogger(__name__)


class Dedupe:
    """Remembers recently seen ``(topic, id, seq)`` keys for a while."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._seen: collections.OrderedDict[Hashable, float] = collections.OrderedDict()

    def seen(self, key: Hashable, now: float) -> bool:
        """Record ``key`` and say whether it was already seen within the TTL."""
        if self._max == 0 or self._ttl == 0:
            return False
        while self._seen:
            oldest_key, stamp = next(iter(self._seen.items()))
            if now - stamp <= self._ttl and len(self._seen) < self._max:
                break
            del self._seen[oldest_key]
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


class BaseBus(abc.ABC):
    """Subscription bookkeeping, decoding, de-duplication, request futures and health.

    Transports subclass it and implement ``_transmit`` and ``run``. ``wire`` is how
    payloads are published (``v1``: exactly py-tars v1 JSON on py-tars topics, the TARS
    additions in a user property); every wire is understood on receipt.
    """

    def __init__(
        self,
        service: str,
        *,
        dedupe: Dedupe | None = None,
        queue_size: int = 1000,
        wire: WireMode = "tars",
    ):
        self.service = service
        self.wire: WireMode = wire
        self.metrics = Metrics(service)
        self._dedupe = dedupe or Dedupe(30.0, 4096)
        self._log_budget = LogBudget()
        self._subscriptions = Subscriptions(service, self.metrics, queue_size, self._log_budget)
        self._replies = PendingReplies()
        self._health = HealthPing(ok=True, event="starting")
        self._connected = asyncio.Event()

    # -- registration -------------------------------------------------------
    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        qos: int | None = None,
        workers: int = 1,
        priority: bool = False,
    ) -> None:
        """Call ``handler`` for each valid JSON message on ``pattern``.

        Args:
            pattern: Topic filter (``+``/``#`` wildcards, ``$share/<group>/`` allowed).
            handler: Coroutine function receiving a ``Message``.
            qos: Subscription QoS; the topic's registry default when None.
            workers: Messages of this subscription handled concurrently (1 keeps order).
            priority: A control topic: read apart from the other subscriptions, so it
                overtakes their backlog (and is no longer ordered with their messages).
        """
        spec = lookup(topic_filter(pattern))
        qos = (spec.qos if spec is not None else 1) if qos is None else qos
        self._subscriptions.add(
            pattern, handler, qos, raw=False, workers=workers, priority=priority
        )

    def subscribe_raw(
        self, pattern: str, handler: RawHandler, *, qos: int = 0, priority: bool = False
    ) -> None:
        """Call ``handler`` for each binary message on ``pattern`` (``priority``: see subscribe)."""
        self._subscriptions.add(pattern, handler, qos, raw=True, workers=1, priority=priority)

    # -- lifecycle ------------------------------------------------------------
    def _start_all_workers(self) -> None:
        self._subscriptions.start_workers()

    async def _stop_workers(self) -> None:
        await self._subscriptions.stop_workers()

    async def wait_connected(self) -> None:
        """Return once connected and subscribed."""
        await self._connected.wait()

    # -- incoming -----------------------------------------------------------------
    def _dispatch(
        self,
        topic: str,
        payload: bytes,
        *,
        properties: Mapping[str, str] | None = None,
        retained: bool = False,
        subscription_ids: frozenset[int] | None = None,
        priority: bool | None = None,
    ) -> None:
        """Route one incoming message to the matching subscriptions (never blocks).

        ``priority`` says which subscriptions the connection it came on serves (None: all).
        """
        self.metrics.inc("messages_in")
        if priority:
            self.metrics.inc("messages_in.priority")
        targets = self._subscriptions.matching(topic, subscription_ids, priority)
        raw_targets = [sub for sub in targets if sub.raw]
        json_targets = [sub for sub in targets if not sub.raw]
        if raw_targets:
            raw = RawMessage(topic, payload, properties or {})
            for sub in raw_targets:
                if len(payload) > sub.max_bytes:
                    self._refuse_frame(topic, payload, sub.max_bytes)
                else:
                    self._subscriptions.enqueue(sub, raw)
        if not json_targets and (priority or not self._replies.is_reply(topic)):
            return
        # Each connection de-duplicates its own deliveries: a topic subscribed on both
        # arrives once on each, and both copies are wanted.
        message = self._decode(topic, payload, properties, retained, lane=bool(priority))
        if message is None:
            return
        if not priority:
            self._replies.resolve(message)
        for sub in json_targets:
            self._subscriptions.enqueue(sub, message)

    def _refuse_frame(self, topic: str, payload: bytes, limit: int) -> None:
        """Count an oversized binary message and log it (thinned)."""
        detail = f"{len(payload)} bytes > {limit}; starts {excerpt(payload)}"
        self._reject(topic, "too_large", detail)

    def _reject(self, topic: str, reason: str, detail: str) -> None:
        """Count a refused message; log the first of each topic and reason, then one in many."""
        self.metrics.inc("rejected")
        self.metrics.inc(f"rejected.{reason}")
        number = self._log_budget.count((topic, reason))
        if number is not None:
            with log_context(topic=topic):
                note = self._log_budget.note(number)
                _LOGGER.error("rejected message%s: %s", note, detail, extra={"reason": reason})

    def _is_reply(self, topic: str) -> bool:
        return self._replies.is_reply(topic)

    def _decode(
        self,
        topic: str,
        payload: bytes,
        properties: Mapping[str, str] | None,
        retained: bool,
        *,
        lane: bool = False,
    ) -> Message | None:
        try:
            envelope = decode(topic, payload, properties)
        except ContractError as err:
            self._reject(topic, err.reason, err.detail)
            return None
        seq = getattr(envelope.data, "seq", None)
        key = (topic, envelope.id, seq if isinstance(seq, int) else None, lane)
        if not retained and self._dedupe.seen(key, time.monotonic()):
            self.metrics.inc("duplicates")
            return None
        return Message(topic, envelope, retained)

    # -- request / response -----------------------------------------------------------
    def expect_replies(self, reply_topic: str) -> None:
        """Declare a reply topic ``request`` will wait on (subscribed with the others)."""
        if reply_topic not in self._replies.patterns:
            self._replies.patterns.add(reply_topic)
            if not any(sub.pattern == reply_topic for sub in self._subscriptions):
                self._subscriptions.add(
                    reply_topic, _ignore, 1, raw=False, workers=1, priority=False
                )

    async def request(
        self, topic: str, data: Any, *, reply_topic: str, timeout_s: float
    ) -> Message:
        """Publish ``data`` and wait for the reply on ``reply_topic`` with the same envelope id.

        The reply is resolved straight from the receive path, never from a
        handler queue, so a handler can await a request without deadlocking.

        Raises:
            TimeoutError: no reply within ``timeout_s`` seconds.
        """
        correlation = new_id()
        with self._replies.waiting(correlation, reply_topic) as reply:
            await self.publish(topic, data, id=correlation)
            return await asyncio.wait_for(reply, timeout_s)

    # -- publishing helpers shared by transports ---------------------------------------
    async def publish(
        self,
        topic: str,
        data: Any,
        *,
        id: str | None = None,
        qos: int | None = None,
        retain: bool | None = None,
    ) -> str:
        """Envelope, validate and publish a payload model; returns the envelope id."""
        spec = spec_for(topic)
        envelope_id = id or new_id()
        encoded = encode_message(topic, data, wire=self.wire, id=envelope_id, source=self.service)
        await self._transmit(
            topic,
            encoded.payload,
            qos=spec.qos if qos is None else qos,
            retain=spec.retain if retain is None else retain,
            properties=encoded.properties or None,
        )
        self.metrics.inc("messages_out")
        return envelope_id

    async def publish_raw(
        self,
        topic: str,
        payload: bytes,
        *,
        properties: Mapping[str, str] | None = None,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish raw bytes with optional user properties."""
        await self._transmit(topic, payload, qos=qos, retain=retain, properties=properties)
        self.metrics.inc("messages_out")

    async def set_health(self, ok: bool, event: str | None = None, err: str | None = None) -> None:
        """Publish this service's retained health (kept and re-sent after reconnects)."""
        self._health = HealthPing(ok=ok, event=event, err=err)
        await self.publish(health_topic(self.service), self._health)

    async def republish_health(self, event: str | None = None) -> None:
        """Re-send the current health with a fresh timestamp (after connect, as heartbeat)."""
        current = self._health
        await self.set_health(current.ok, event or current.event, current.err)

    @abc.abstractmethod
    async def _transmit(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        properties: Mapping[str, str] | None,
    ) -> None:
        """Hand one message to the transport."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Connect and deliver messages until cancelled."""


async def _ignore(_: Message) -> None:
    """Handler for reply-only subscriptions: the receive path resolves the futures."""
