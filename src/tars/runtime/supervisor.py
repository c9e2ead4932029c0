"""``tars up``: the broker plus every service, each in its own process, restarted on crashes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from pydantic import SecretStr

from tars.contracts.health import HEALTH_PATTERN, HEALTH_PREFIX
from tars.runtime import broker
from tars.runtime.bus import Message
from tars.runtime.connect import broker_dir
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.procs import die_with_parent
from tars.runtime.settings import MqttSettings, RuntimeSettings

_LOGGER = logging.getLogger(__name__)
_STOP_GRACE_S = 4.0
_HEALTHY_RUN_S = 60.0
_BROKER_CHECK_S = 0.2
"""How often the supervisor checks that its broker still runs (a restart costs this much more)."""
_BROKER_RETRY_S = 1.0


@dataclass
class _Child:
    name: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = 1.0
    history: list[int] = field(default_factory=list)


class Supervisor:
    """Starts, watches and stops the stack's processes.

    Each service runs as ``python -m tars run <service>`` so CPU-heavy engines
    use every core and one crash stays contained. A child that exits while the
    stack is up is restarted with exponential backoff (1 s doubling to 30 s,
    reset after a minute of healthy running). A private broker that dies is restarted at
    once on the same port and files; the services reconnect by themselves.
    """

    def __init__(
        self,
        services: list[str],
        runtime: RuntimeSettings,
        *,
        use_external_broker: bool,
        report: ProgressReport | None = None,
    ) -> None:
        self.services = services
        self.runtime = runtime
        self.use_external_broker = use_external_broker
        self.report = report or ProgressReport()
        self.broker: broker.MosquittoProcess | None = None
        self.broker_config: broker.BrokerConfig | None = None
        self._children = {name: _Child(name) for name in services}
        self._stopping = False
        self._last_health: dict[str, tuple[bool, str | None, str | None]] = {}

    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stopping

    def start_broker(self) -> None:
        """Generate and start the private broker unless an external one is configured."""
        if self.use_external_broker:
            return
        self.broker_config = broker.generate(broker_dir(self.runtime))
        self.broker = broker.MosquittoProcess(self.broker_config)
        self.broker.start()
        self.report.line(f"broker: mosquitto on 127.0.0.1:{self.broker_config.port}")

    def child_env(self, service: str) -> dict[str, str]:
        """Environment of a service process: ours plus its own broker credentials."""
        env = dict(os.environ)
        if "TARS_LOG_FORMAT" not in env and sys.stderr.isatty():
            env["TARS_LOG_FORMAT"] = "text"  # a person is watching: readable lines, not JSON
        if self.broker_config is not None:
            env["MQTT_URL"] = self.broker_config.url(service)
        return env

    async def _spawn(self, child: _Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tars",
            "run",
            child.name,
            env=self.child_env(child.name),
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        child.started_at = time.monotonic()
        self.report.line(f"{child.name}: started (pid {child.process.pid})")

    async def _watch(self, child: _Child) -> None:
        while not self.stopping():
            await self._spawn(child)
            assert child.process is not None
            code = await child.process.wait()
            child.history.append(code)
            if self.stopping():
                return
            if time.monotonic() - child.started_at > _HEALTHY_RUN_S:
                child.backoff_s = 1.0
            child.restarts += 1
            self.report.line(
                f"{child.name}: exited with {code}; "
                f"restart {child.restarts} in {child.backoff_s:.0f}s"
            )
            await asyncio.sleep(child.backoff_s)
            child.backoff_s = min(child.backoff_s * 2, 30.0)

    async def _watch_broker(self) -> None:
        """Restart the private broker whenever it exits while the stack is up."""
        process = self.broker
        if process is None:
            return
        while not self.stopping():
            # mosquitto is a Popen child: a short poll is the portable way to see it die.
            await asyncio.sleep(_BROKER_CHECK_S)
            if process.running() or self.stopping():
                continue
            self.report.line("broker: exited; restarting it")
            try:
                await asyncio.to_thread(process.start)
            except broker.BrokerUnavailable as err:
                self.report.line(f"broker: restart failed ({err}); retrying")
                await asyncio.sleep(_BROKER_RETRY_S)
                continue
            self.report.line(f"broker: restarted (pid {process.pid})")

    def _observer(self) -> MqttBus:
        settings = MqttSettings()
        if self.broker_config is not None:
            settings = settings.model_copy(update={"url": SecretStr(self.broker_config.url("cli"))})
        observer = MqttBus("cli", settings, health=False)
        observer.subscribe(HEALTH_PATTERN, self._on_health)
        return observer

    async def _on_health(self, message: Message) -> None:
        service = message.topic.removeprefix(HEALTH_PREFIX)
        if service not in self._children:
            return
        ping = message.data
        state = (ping.ok, ping.event, ping.err)
        if self._last_health.get(service) == state:
            return
        self._last_health[service] = state
        detail = f": {ping.err}" if ping.err else ""
        self.report.line(f"{service}: {'ok' if ping.ok else 'not ok'} ({state[1]}){detail}")

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop the services and the broker (last)."""
        self.start_broker()
        try:
            async with asyncio.TaskGroup() as group:
                watchers = [
                    group.create_task(self._watch(child), name=f"supervise:{child.name}")
                    for child in self._children.values()
                ]
                watchers.append(group.create_task(self._observer().run(), name="supervise:health"))
                watchers.append(group.create_task(self._watch_broker(), name="supervise:broker"))
                await stop.wait()
                self._stopping = True
                await self._terminate_children()
                for watcher in watchers:
                    watcher.cancel()
        finally:
            self._stopping = True
            await self._terminate_children()
            if self.broker is not None:
                self.broker.stop()
                self.report.line("broker: stopped")

    async def _terminate_children(self) -> None:
        alive = [
            child.process
            for child in self._children.values()
            if child.process is not None and child.process.returncode is None
        ]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if not alive:
            return
        waits = [asyncio.create_task(p.wait(), name=f"wait:{p.pid}") for p in alive]
        _, pending = await asyncio.wait(waits, timeout=_STOP_GRACE_S)
        for process in alive:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        for task in pending:
            await task


class ProgressReport:
    """Prints supervisor progress lines (a hook so tests can capture them)."""

    def line(self, text: str) -> None:
        """Report one line."""
        print(f"[tars] {text}", file=sys.stderr, flush=True)
