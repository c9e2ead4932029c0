"""Subscriber process for the cross-process bus benchmark.

``python -m tars.bench.bus_peer URL QOS COUNT`` subscribes to ``tts/say`` and, for each
message, records the one-way delay from the publisher's ``stt_ts`` (its
``time.perf_counter()``, the system-wide monotonic clock on Linux) to the handler. It prints
``ready`` once subscribed and the delays as a JSON list after COUNT messages (or 60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import orjson
from pydantic import SecretStr

from tars.contracts.tts import TOPIC_TTS_SAY
from tars.runtime.bus import Message
from tars.runtime.loop import run as run_loop
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import MqttSettings


async def _collect(url: str, qos: int, count: int) -> list[float]:
    delays: list[float] = []
    done = asyncio.Event()

    async def on_say(message: Message) -> None:
        delays.append((time.perf_counter() - message.data.stt_ts) * 1000.0)
        if len(delays) >= count:
            done.set()

    bus = MqttBus("tts", MqttSettings(url=SecretStr(url)), health=False)
    bus.subscribe(TOPIC_TTS_SAY, on_say, qos=qos)
    task = asyncio.create_task(bus.run(), name="bench-peer:bus")
    try:
        await asyncio.wait_for(bus.wait_connected(), 10.0)
        print("ready", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 60.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return delays


def main() -> None:
    """Entry point of the peer process."""
    url, qos, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    delays = run_loop(_collect(url, qos, count))
    sys.stdout.write(orjson.dumps(delays).decode() + "\n")


if __name__ == "__main__":
    main()
