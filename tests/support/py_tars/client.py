"""A py-tars-like MQTT client: MQTT 3.1.1, raw payloads, no TARS code on its receive path."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType

import aiomqtt


@dataclass(frozen=True)
class Seen:
    """One message as the client received it."""

    topic: str
    payload: bytes


@dataclass
class PyTarsClient:
    """Connects like py-tars's ``MQTTClient`` (MQTT 3.1.1), records every live message on ``#``.

    MQTT 3.1.1 has no user properties, so the broker hands this client exactly what a
    py-tars service would get. Retained messages replayed at subscription are skipped:
    they were published before the test (by other tests on the shared broker).
    """

    host: str
    port: int
    username: str
    password: str
    seen: list[Seen] = field(default_factory=list)
    _client: aiomqtt.Client | None = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> PyTarsClient:
        self._client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            protocol=aiomqtt.ProtocolVersion.V311,
        )
        await self._client.__aenter__()
        await self._client.subscribe("#", qos=1)
        self._reader = asyncio.create_task(self._read(self._client), name="test:py-tars-client")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(exc_type, exc, tb)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.retain:
                continue
            payload = message.payload
            assert isinstance(payload, bytes | bytearray)  # paho hands over the received bytes
            self.seen.append(Seen(message.topic.value, bytes(payload)))
            self._changed.set()

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish raw bytes at QoS 1, as a py-tars service would."""
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1)

    def on(self, topic: str) -> list[bytes]:
        """Payloads seen on ``topic`` so far."""
        return [item.payload for item in self.seen if item.topic == topic]

    async def wait_for(self, topic: str, timeout_s: float = 10.0) -> bytes:
        """The first payload on ``topic``, waiting for it.

        Raises:
            TimeoutError: none within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            while not self.on(topic):
                self._changed.clear()
                await self._changed.wait()
        return self.on(topic)[0]
