"""`tars up` in a scratch data directory, driven and watched over the bus like an operator would.

The fault benches (and the fault tests, which run the same scenarios) start the real stack as
its own processes, log in to its generated broker with the users' passwords, record every
health status with its arrival time, and kill processes by pid: a service, or the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import SecretStr

from tars.contracts.health import HEALTH_PATTERN, HEALTH_PREFIX
from tars.runtime.broker import BrokerConfig
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.procs import die_with_parent
from tars.runtime.settings import MqttSettings

_STOP_GRACE_S = 20.0
_BROKER_LINE = "broker: mosquitto on"


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """One health status as the observer received it."""

    service: str
    ok: bool
    event: str
    sent_at: float
    """The status's own timestamp (Unix seconds)."""
    arrived: float
    """``time.monotonic()`` when it arrived."""

    @property
    def ready(self) -> bool:
        """A healthy ``ready...`` status."""
        return self.ok and self.event.startswith("ready")


class HealthLog:
    """Every health status seen, in arrival order, with a way to wait for one."""

    def __init__(self) -> None:
        self.events: list[HealthEvent] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        """Record one health status (the bus handler)."""
        ping = message.data
        service = message.topic.removeprefix(HEALTH_PREFIX)
        self.events.append(
            HealthEvent(service, ping.ok, ping.event or "", ping.timestamp, time.monotonic())
        )
        self._changed.set()

    async def wait_for(
        self, predicate: Callable[[HealthEvent], bool], timeout_s: float, since: int = 0
    ) -> HealthEvent:
        """The first event from index ``since`` on matching ``predicate``.

        Raises:
            TimeoutError: none within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()


def _children(parent: int) -> dict[int, str]:
    """Direct children of ``parent``: pid -> command line (Linux /proc)."""
    found: dict[int, str] = {}
    for listing in Path(f"/proc/{parent}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for pid in listing.read_text().split():
                with contextlib.suppress(OSError):
                    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                    found[int(pid)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return found


class UpStack:
    """The real stack under `tars up`, in ``data_dir``, with ``env`` added to the environment."""

    def __init__(self, services: list[str], data_dir: Path, env: Mapping[str, str]) -> None:
        self.services = services
        self.data_dir = data_dir
        # `tars up` generates a plain loopback broker: an outside broker's URL and TLS files
        # would point its services elsewhere or fail their settings check.
        self._env = {
            key: value
            for key, value in os.environ.items()
            if key != "MQTT_URL" and not key.startswith("MQTT_TLS_")
        }
        self._env.update({"TARS_DATA_DIR": str(data_dir), "TARS_LOG_FORMAT": "text", **env})
        self.health = HealthLog()
        self.config: BrokerConfig | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._observer: MqttBus | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def log_path(self) -> Path:
        """Where the output of `tars up` (supervisor and services) goes."""
        return self.data_dir / "up.log"

    @property
    def pid(self) -> int:
        """The supervisor's pid."""
        assert self._process is not None, "start() first"
        return self._process.pid

    async def start(self, timeout_s: float = 240.0) -> None:
        """Start `tars up` and return once every service reported ``ready``.

        Raises:
            TimeoutError: the broker or a service did not come up in time.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tars", "up", *self.services,
            env=self._env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=die_with_parent,  # a killed bench or test leaves no stack behind
        )  # fmt: skip
        broker_up = asyncio.Event()
        self._tasks.append(asyncio.create_task(self._copy_output(broker_up), name="upstack:output"))
        async with asyncio.timeout(timeout_s):
            await broker_up.wait()
            self.config = BrokerConfig.load(self.data_dir / "broker")
            assert self.config is not None
            self._observer = self.bus("cli")
            self._observer.subscribe(HEALTH_PATTERN, self.health)
            self._tasks.append(asyncio.create_task(self._observer.run(), name="upstack:health"))
            await self._observer.wait_connected()
            for service in self.services:
                await self.wait_ready(service, since=0, timeout_s=timeout_s)

    async def _copy_output(self, broker_up: asyncio.Event) -> None:
        """Copy `tars up` output to the log file; note when the broker listens."""
        assert self._process is not None
        assert self._process.stdout is not None
        assert self._log is not None
        marker = _BROKER_LINE.encode()
        tail = b""
        # Chunks, not lines: a service may log a line longer than a StreamReader's limit.
        while chunk := await self._process.stdout.read(1 << 16):
            self._log.write(chunk)
            if not broker_up.is_set() and marker in tail + chunk:
                broker_up.set()
            tail = chunk[-len(marker) :]
        self._log.flush()

    def settings(self, user: str) -> MqttSettings:
        """MQTT settings for ``user`` on the stack's broker, reconnecting quickly."""
        assert self.config is not None, "start() first"
        return MqttSettings(
            url=SecretStr(self.config.url(user)), reconnect_min_s=0.1, reconnect_max_s=0.5
        )

    def bus(self, user: str) -> MqttBus:
        """A plain client bus (no health of its own) logged in as ``user``."""
        return MqttBus(user, self.settings(user), health=False)

    async def wait_ready(
        self, service: str, *, since: int, timeout_s: float, after: float = 0.0
    ) -> HealthEvent:
        """The first ``ready`` status of ``service`` from index ``since``, sent after ``after``."""
        return await self.health.wait_for(
            lambda event: event.service == service and event.ready and event.sent_at >= after,
            timeout_s,
            since,
        )

    def service_pid(self, service: str) -> int | None:
        """Pid of the running ``tars run <service>`` child, if any."""
        needle = f"-m tars run {service}"
        return next(
            (pid for pid, cmd in _children(self.pid).items() if cmd.rstrip().endswith(needle)),
            None,
        )

    def broker_pid(self) -> int | None:
        """Pid of the running broker child, if any."""
        return next((pid for pid, cmd in _children(self.pid).items() if "mosquitto" in cmd), None)

    def service_pids(self) -> dict[str, int | None]:
        """Current pid of every service."""
        return {service: self.service_pid(service) for service in self.services}

    async def stop(self) -> None:
        """SIGTERM `tars up` (it stops the services and the broker), SIGKILL if it lingers."""
        observer, output = self._tasks[1:], self._tasks[:1]
        for task in observer:  # before the broker goes: no reconnect attempts to report
            task.cancel()
        await asyncio.gather(*observer, return_exceptions=True)
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in output:
            task.cancel()
        await asyncio.gather(*output, return_exceptions=True)
        self._tasks.clear()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> UpStack:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def kill(pid: int) -> float:
    """SIGKILL ``pid``; returns ``time.time()`` of the kill."""
    os.kill(pid, signal.SIGKILL)
    return time.time()
