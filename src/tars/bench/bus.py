"""Bus hop latency (QoS 0 and 1) and throughput through a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from tars.bench import report, size
from tars.bench.report import percentiles
from tars.contracts.tts import TOPIC_TTS_SAY, TtsSay
from tars.runtime import broker
from tars.runtime.bus import Message
from tars.runtime.loop import run as run_loop
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import MqttSettings, RuntimeSettings

_PUBLISHER = "router"
_SUBSCRIBER = "tts"


@contextlib.asynccontextmanager
async def _broker_urls(external: MqttSettings | None) -> AsyncIterator[tuple[str, str]]:
    if external is not None:
        url = external.url.get_secret_value()
        yield url, url
        return
    with tempfile.TemporaryDirectory(prefix="tars-bench-") as directory:
        config = broker.generate(Path(directory) / "broker")
        process = broker.MosquittoProcess(config)
        process.start()
        try:
            yield config.url(_PUBLISHER), config.url(_SUBSCRIBER)
        finally:
            process.stop()


class _Probe:
    """A publisher bus and a subscriber bus with arrival bookkeeping."""

    def __init__(self, publisher_url: str, subscriber_url: str, qos: int) -> None:
        self.qos = qos
        self.arrivals: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self.expected = 0
        self.publisher = MqttBus(_PUBLISHER, MqttSettings(url=SecretStr(publisher_url)))
        self.subscriber = MqttBus(_SUBSCRIBER, MqttSettings(url=SecretStr(subscriber_url)))
        self.subscriber.subscribe(TOPIC_TTS_SAY, self._on_message, qos=qos)

    async def _on_message(self, message: Message) -> None:
        self.arrivals[message.envelope.id] = time.perf_counter()
        if len(self.arrivals) >= self.expected:
            self.arrived.set()

    async def hop_latency(self, samples: int) -> list[float]:
        """Publish one message at a time; milliseconds from publish call to handler."""
        latencies = []
        payload = TtsSay(text="bench hop", utt_id="bench")
        for _ in range(samples):
            self.arrived.clear()
            self.expected = len(self.arrivals) + 1
            start = time.perf_counter()
            envelope_id = await self.publisher.publish(TOPIC_TTS_SAY, payload, qos=self.qos)
            await asyncio.wait_for(self.arrived.wait(), 5.0)
            latencies.append((self.arrivals[envelope_id] - start) * 1000.0)
        return latencies

    async def throughput(self, count: int, window: int = 200) -> dict[str, float]:
        """Publish ``count`` messages as fast as allowed; delivered messages per second."""
        self.arrivals.clear()
        self.arrived.clear()
        self.expected = count
        payload = TtsSay(text="bench flood", utt_id="bench")
        start = time.perf_counter()
        for offset in range(0, count, window):
            batch = min(window, count - offset)
            await asyncio.gather(
                *(
                    self.publisher.publish(TOPIC_TTS_SAY, payload, qos=self.qos)
                    for _ in range(batch)
                )
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.arrived.wait(), 30.0)
        elapsed = (max(self.arrivals.values()) if self.arrivals else time.perf_counter()) - start
        return {
            "sent": count,
            "delivered": len(self.arrivals),
            "lost_pct": round(100.0 * (count - len(self.arrivals)) / count, 3),
            "msgs_per_s": round(len(self.arrivals) / elapsed, 1) if elapsed > 0 else 0.0,
        }


async def cross_process_hops(
    publisher_url: str, subscriber_url: str, qos: int, samples: int
) -> list[float]:
    """One-way delays (ms) from a publish here to the handler in another process."""
    peer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tars.bench.bus_peer", subscriber_url, str(qos), str(samples),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert peer.stdout is not None
    publisher = MqttBus(_PUBLISHER, MqttSettings(url=SecretStr(publisher_url)), health=False)
    task = asyncio.create_task(publisher.run(), name="bench:cross-publisher")
    try:
        await asyncio.wait_for(peer.stdout.readline(), 20.0)  # "ready"
        await asyncio.wait_for(publisher.wait_connected(), 10.0)
        for _ in range(samples):
            say = TtsSay(text="bench hop", utt_id="bench", stt_ts=time.perf_counter())
            await publisher.publish(TOPIC_TTS_SAY, say, qos=qos)
            await asyncio.sleep(0.002)  # one message in flight at a time
        output, _ = await asyncio.wait_for(peer.communicate(), 70.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if peer.returncode is None:
            peer.kill()
    return [float(value) for value in orjson.loads(output.splitlines()[-1])]


async def measure(
    external: MqttSettings | None, samples: int = 2000, flood: int = 20000
) -> dict[str, Any]:
    """Run the bus benchmark (a private broker unless ``external`` is given)."""
    results: dict[str, Any] = {}
    async with _broker_urls(external) as (publisher_url, subscriber_url):
        for qos in (0, 1):
            probe = _Probe(publisher_url, subscriber_url, qos)
            tasks = [
                asyncio.create_task(probe.publisher.run(), name="bench:publisher"),
                asyncio.create_task(probe.subscriber.run(), name="bench:subscriber"),
            ]
            try:
                await asyncio.wait_for(probe.publisher.wait_connected(), 10.0)
                await asyncio.wait_for(probe.subscriber.wait_connected(), 10.0)
                await probe.hop_latency(50)  # warm-up
                hops = await probe.hop_latency(samples)
                results[f"qos{qos}"] = {
                    "hop_ms": percentiles(
                        await cross_process_hops(publisher_url, subscriber_url, qos, samples)
                    ),
                    "hop_in_process_ms": percentiles(hops),
                    "throughput": await probe.throughput(flood),
                }
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    return results


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench bus`: measure, print the headline figures, write the report."""
    del runtime  # the bus suite needs no data directory
    external = MqttSettings() if "MQTT_URL" in os.environ else None
    samples, flood_size = size.sized(2000, 300), size.sized(20000, 3000)
    print(
        f"bench bus: {samples} paced messages to another process, the same in one process, "
        f"and a {flood_size}-message flood, per QoS ...",
        flush=True,
    )
    results = {**run_loop(measure(external, samples, flood_size)), "quick": size.quick()}
    chart = {}
    for qos in ("qos0", "qos1"):
        hop = results[qos]["hop_ms"]
        flood = results[qos]["throughput"]
        chart[f"{qos} hop p50 ms"] = hop["p50"]
        chart[f"{qos} hop p99 ms"] = hop["p99"]
        local = results[qos]["hop_in_process_ms"]
        print(
            f"{qos}: hop p50 {hop['p50']:.3f} ms, p99 {hop['p99']:.3f} ms "
            f"(both ends in one process: p50 {local['p50']:.3f}, p99 {local['p99']:.3f}); "
            f"throughput {flood['msgs_per_s']:.0f} msg/s, lost {flood['lost_pct']}%"
        )
    print(f"report: {report.write(out_dir, 'bus', results, chart)}")
    return 0
