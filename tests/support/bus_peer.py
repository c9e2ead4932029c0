"""A tiny service process for integration tests: echoes tts/say as tts/status.

A tts/control (a priority subscription, as in the real tts) is answered with a ``stopped``
status whose text is how many messages the main connection had read by then.

Run as ``python -m tests.support.bus_peer`` with MQTT_URL set. It uses the real
runtime (``serve`` with the MQTT bus, health, heartbeat, metrics and signals),
so tests exercise the same code path as `tars run`.
"""

from __future__ import annotations

import asyncio

from tars.contracts import tts
from tars.runtime.bus import Bus, Message
from tars.runtime.logs import configure_logging
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import install_signal_handlers, serve
from tars.runtime.settings import MqttSettings, RuntimeSettings


class EchoService:
    """Answers every tts/say with a tts/status carrying the same text and utt_id."""

    name = "tts"

    def __init__(self) -> None:
        self._bus: Bus | None = None

    def attach(self, bus: Bus) -> None:
        self._bus = bus
        bus.subscribe(tts.TOPIC_TTS_SAY, self._on_say)
        bus.subscribe(tts.TOPIC_TTS_CONTROL, self._on_control, priority=True)

    async def run(self) -> None:
        assert self._bus is not None
        await self._bus.wait_connected()
        await self._bus.set_health(True, "ready")

    async def _on_say(self, message: Message) -> None:
        assert self._bus is not None
        status = tts.TtsStatus(
            event="speaking_start", text=message.data.text, utt_id=message.data.utt_id
        )
        await self._bus.publish(tts.TOPIC_TTS_STATUS, status)

    async def _on_control(self, message: Message) -> None:
        assert self._bus is not None
        metrics = self._bus.metrics
        read = metrics.count("messages_in") - metrics.count("messages_in.priority")
        status = tts.TtsStatus(event="stopped", text=str(read), utt_id=message.data.id)
        await self._bus.publish(tts.TOPIC_TTS_STATUS, status)


async def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("tts", runtime.log_level, runtime.log_format)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    bus = MqttBus("tts", MqttSettings())
    await serve(
        EchoService(),
        bus,
        stop,
        heartbeat_s=runtime.heartbeat_s,
        metrics_interval_s=runtime.metrics_interval_s,
    )


if __name__ == "__main__":
    asyncio.run(main())
