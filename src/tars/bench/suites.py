"""Dispatch `tars bench <suite>` and print a short summary."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tars.bench import bus, report
from tars.runtime.settings import MqttSettings, RuntimeSettings

SUITES = ("bus",)


def run(suite: str, out: str, runtime: RuntimeSettings) -> int:
    """Run one suite, write its report, print the headline figures."""
    if suite not in SUITES:
        print(f"unknown bench suite {suite!r}; available: {', '.join(SUITES)}")
        return 2
    external = MqttSettings() if "MQTT_URL" in os.environ else None
    print("bench bus: 2000 paced messages and a 20000-message flood per QoS ...", flush=True)
    results = asyncio.run(bus.measure(external))
    chart = {}
    for qos in ("qos0", "qos1"):
        hop = results[qos]["hop_ms"]
        flood = results[qos]["throughput"]
        chart[f"{qos} hop p50 ms"] = hop["p50"]
        chart[f"{qos} hop p99 ms"] = hop["p99"]
        print(
            f"{qos}: hop p50 {hop['p50']:.3f} ms, p99 {hop['p99']:.3f} ms; "
            f"throughput {flood['msgs_per_s']:.0f} msg/s, lost {flood['lost_pct']}%"
        )
    path = report.write(Path(out), suite, results, chart)
    print(f"report: {path}")
    return 0
