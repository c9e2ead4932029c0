"""``tars status``: every service's health, read from the retained health topics."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tars.contracts.health import HEALTH_PATTERN, HEALTH_PREFIX, HealthPing
from tars.runtime.bus import Message
from tars.runtime.connect import mqtt_settings_for
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import RuntimeSettings


async def collect_health(runtime: RuntimeSettings, wait_s: float = 1.0) -> dict[str, HealthPing]:
    """Connect as the CLI user and gather the retained health of every service.

    Raises:
        TimeoutError: the broker could not be reached within a few seconds.
    """
    found: dict[str, HealthPing] = {}

    async def on_health(message: Message) -> None:
        found[message.topic.removeprefix(HEALTH_PREFIX)] = message.data

    bus = MqttBus("cli", mqtt_settings_for("cli", runtime), health=False)
    bus.subscribe(HEALTH_PATTERN, on_health)
    task = asyncio.create_task(bus.run(), name="status:bus")
    try:
        await asyncio.wait_for(bus.wait_connected(), 5.0)
        await asyncio.sleep(wait_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return found


def render(health: dict[str, HealthPing], stale_after_s: float, now: float | None = None) -> str:
    """A table of service health; a status older than ``stale_after_s`` is shown as stale."""
    now = time.time() if now is None else now
    if not health:
        return "no service has reported health (is the stack running? try `tars up`)"
    lines = [f"{'service':<12} {'state':<8} {'age':>6}  detail"]
    for service in sorted(health):
        ping = health[service]
        age = now - ping.timestamp
        state = "ok" if ping.ok else "DOWN"
        if ping.ok and age > stale_after_s:
            state = "stale"
        detail = " ".join(part for part in (ping.event or "", ping.err or "") if part)
        lines.append(f"{service:<12} {state:<8} {age:>5.0f}s  {detail}")
    return "\n".join(lines)


def run(runtime: RuntimeSettings) -> int:
    """Print the table; exit 1 when a service is down or nothing answers."""
    try:
        health = asyncio.run(collect_health(runtime))
    except TimeoutError:
        print("cannot reach the broker (check MQTT_URL or start the stack with `tars up`)")
        return 1
    print(render(health, stale_after_s=3 * runtime.heartbeat_s))
    return 0 if health and all(ping.ok for ping in health.values()) else 1
