"""Service lifecycle: attach handlers, run beside the bus, heartbeat, metrics, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Protocol

from tars.contracts.metrics import metrics_topic
from tars.runtime.bus import Bus
from tars.runtime.malloc import RELEASE_INTERVAL_S, release_free_memory

_LOGGER = logging.getLogger(__name__)
_SHUTDOWN_PUBLISH_S = 2.0


class Service(Protocol):
    """What every TARS service provides to the runtime."""

    name: str

    def attach(self, bus: Bus) -> None:
        """Register the service's subscriptions on the bus (called before the bus runs)."""

    async def run(self) -> None:
        """Do the service's own work (load engines, loops); may return early or run forever."""


async def _heartbeat(bus: Bus, interval_s: float) -> None:
    await bus.wait_connected()
    while True:
        await asyncio.sleep(interval_s)
        await bus.republish_health()  # same status, fresh timestamp


async def _publish_metrics(bus: Bus, interval_s: float) -> None:
    await bus.wait_connected()
    while True:
        await asyncio.sleep(interval_s)
        await bus.publish(metrics_topic(bus.service), bus.metrics.snapshot())


async def _release_memory(interval_s: float) -> None:
    # Engines free their per-call buffers into the heap, where glibc keeps them; giving them
    # back every few seconds keeps the resident memory between turns near the loaded size.
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(release_free_memory)


async def _run_service_body(service: Service) -> None:
    try:
        await service.run()
    except asyncio.CancelledError:
        raise
    except Exception as err:
        _LOGGER.exception("service %s failed", service.name)
        raise ServiceFailed(service.name, str(err)) from err
    # A service whose work is all in handlers returns at once; keep serving.
    await asyncio.Event().wait()


class ServiceFailed(RuntimeError):
    """The service's own work raised; the process exits non-zero so a supervisor restarts it."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


async def serve(
    service: Service,
    bus: Bus,
    stop: asyncio.Event,
    *,
    heartbeat_s: float = 10.0,
    metrics_interval_s: float = 15.0,
) -> None:
    """Run ``service`` on ``bus`` until ``stop`` is set or something fails.

    On a stop the service announces a retained ``ok: false, event: shutdown``
    before disconnecting, so dashboards can tell a clean stop from a crash
    (which the Last-Will reports as ``lost``).
    """
    service.attach(bus)
    tasks: list[asyncio.Task[None]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks.append(group.create_task(bus.run(), name=f"{service.name}:bus"))
            tasks.append(group.create_task(_run_service_body(service), name=f"{service.name}:run"))
            tasks.append(
                group.create_task(_heartbeat(bus, heartbeat_s), name=f"{service.name}:heartbeat")
            )
            tasks.append(
                group.create_task(
                    _publish_metrics(bus, metrics_interval_s), name=f"{service.name}:metrics"
                )
            )
            tasks.append(
                group.create_task(
                    _release_memory(RELEASE_INTERVAL_S), name=f"{service.name}:release-memory"
                )
            )
            await stop.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bus.set_health(False, "shutdown"), _SHUTDOWN_PUBLISH_S)
            for task in tasks:
                task.cancel()
    except* ServiceFailed as group_error:
        failure = group_error.exceptions[0]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.set_health(False, "failed", str(failure)), 1.0)
        raise failure from None


def install_signal_handlers(stop: asyncio.Event) -> None:
    """Make SIGINT and SIGTERM set ``stop`` (only set the event: the loop does the rest)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
