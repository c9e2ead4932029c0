"""Kill the broker, or one service, of a running `tars up` stack and time the recovery.

Recovery is read from health, as an operator sees it: after a broker SIGKILL, a service is
back when it publishes a healthy status sent after the kill (each re-announces its health
when it reconnects); after a service SIGKILL, the broker's Last-Will reports it ``lost``
and the supervisor's new process reports ``ready``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tars.bench.upstack import HealthEvent, UpStack, kill


@dataclass(frozen=True, slots=True)
class BrokerRecovery:
    """How the stack came back after its broker was SIGKILLed."""

    recovered_s: dict[str, float]
    """Per service: seconds from the kill to its first healthy status sent after it."""
    new_broker_pid: int | None

    @property
    def slowest_s(self) -> float:
        """The last service back."""
        return max(self.recovered_s.values(), default=0.0)


@dataclass(frozen=True, slots=True)
class ServiceRestart:
    """One service SIGKILLed and restarted by `tars up`."""

    service: str
    old_pid: int
    new_pid: int | None
    lost: HealthEvent
    """The Last-Will status the broker published for the dead connection."""
    ready: HealthEvent
    """The restarted process's first ``ready`` status."""
    lost_after_s: float
    """From the kill to the ``lost`` status arriving."""
    ready_after_s: float
    """From the kill to the new process's ``ready`` status being sent."""


async def kill_broker(stack: UpStack, timeout_s: float) -> BrokerRecovery:
    """SIGKILL the broker; wait until every service reports healthy again.

    Raises:
        RuntimeError: no broker process runs.
        TimeoutError: some service did not come back within ``timeout_s``.
    """
    pid = stack.broker_pid()
    if pid is None:
        raise RuntimeError("no broker process under tars up")
    since = len(stack.health.events)
    killed = kill(pid)
    recovered: dict[str, float] = {}
    for service in stack.services:
        event = await stack.health.wait_for(_healthy_after(service, killed), timeout_s, since)
        recovered[service] = round(event.sent_at - killed, 3)
    return BrokerRecovery(recovered, stack.broker_pid())


def _healthy_after(service: str, killed: float) -> Callable[[HealthEvent], bool]:
    return lambda event: event.service == service and event.ok and event.sent_at > killed


async def kill_service(stack: UpStack, service: str, timeout_s: float) -> ServiceRestart:
    """SIGKILL ``service``; wait for its ``lost`` and then its new process's ``ready``.

    Raises:
        RuntimeError: the service has no running process.
        TimeoutError: either status did not come within ``timeout_s``.
    """
    pid = stack.service_pid(service)
    if pid is None:
        raise RuntimeError(f"{service} is not running")
    since = len(stack.health.events)
    killed_mono = time.monotonic()
    killed = kill(pid)
    lost = await stack.health.wait_for(
        lambda e: e.service == service and not e.ok and e.event == "lost", timeout_s, since
    )
    ready = await stack.wait_ready(service, since=since, timeout_s=timeout_s, after=killed)
    return ServiceRestart(
        service=service,
        old_pid=pid,
        new_pid=stack.service_pid(service),
        lost=lost,
        ready=ready,
        lost_after_s=round(lost.arrived - killed_mono, 3),
        ready_after_s=round(ready.sent_at - killed, 3),
    )
