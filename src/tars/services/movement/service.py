"""The movement service: validates commands and forwards them to the ESP32 servo controller.

* ``movement/command`` (from router rules, the mcp movement tool, UIs) is decoded here, not
  by the bus, so an invalid one is answered with a ``command_failed`` status that says why;
  nothing invalid, rate-limited or arriving during a stop reaches ``movement/test``.
* Valid commands go out as the bare JSON the firmware reads, on ``movement/test``.
* ``movement/stop`` goes straight to the controller from whoever says stop and always wins:
  here it drops the pending commands and refuses new ones for ``MOVEMENT_STOP_HOLD_S``. The
  ``stop`` action on ``movement/command`` is turned into a ``movement/stop`` at once.
* The controller's bare ``movement/state`` and ``movement/status`` are accepted and counted;
  completions free their pending slot.
* Simulator mode plays the ESP32 on the bus (:mod:`~tars.services.movement.simulator`);
  ``auto`` simulates until a real ESP32 reports healthy on ``system/health/esp32``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from tars.contracts import movement as mv
from tars.contracts.health import health_topic
from tars.runtime.bus import Bus, Message, RawMessage
from tars.runtime.lograte import LogBudget
from tars.runtime.settings import RuntimeSettings
from tars.services.movement.gate import CommandGate
from tars.services.movement.settings import MovementSettings
from tars.services.movement.simulator import SimulatedController
from tars.services.movement.wire import InvalidCommand, firmware_json, parse_command, to_firmware

_LOGGER = logging.getLogger(__name__)

ESP32_HEALTH_TOPICS = (health_topic("esp32"), health_topic("movement-esp32"))
"""Where the firmware reports health (the second is its own default configuration)."""
_FINAL_EVENTS = frozenset({"command_completed", "command_failed"})


class MovementService:
    """Validates, limits and forwards movement commands; optionally simulates the controller.

    Args:
        settings: The service settings.
        clock: Monotonic clock for the rate limit and stop latch (tests pass their own).
    """

    name = "movement"

    def __init__(
        self, settings: MovementSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._refusals_logged = LogBudget()
        self._gate = CommandGate(
            rate_per_s=settings.rate_per_s,
            burst=settings.burst,
            max_pending=settings.max_pending,
            pending_timeout_s=settings.pending_timeout_s,
            stop_hold_s=settings.stop_hold_s,
        )
        self._simulator = SimulatedController(
            self._emit, time_scale=settings.sim_time_scale, queue_max=settings.sim_queue_max
        )
        self._simulating = False
        self._esp32_seen = asyncio.Event()
        self._bus: Bus | None = None

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        assert self._bus is not None, "attach() first"
        return self._bus

    @property
    def simulating(self) -> bool:
        """Whether the simulated controller is answering on the bus."""
        return self._simulating

    def attach(self, bus: Bus) -> None:
        """Subscribe to commands, stops, controller reports and (maybe) the simulator inputs."""
        self._bus = bus
        bus.subscribe_raw(mv.TOPIC_MOVEMENT_COMMAND, self._on_command, qos=1)
        bus.subscribe(mv.TOPIC_MOVEMENT_STOP, self._on_stop, priority=True)
        bus.subscribe(mv.TOPIC_MOVEMENT_STATUS, self._on_status)
        bus.subscribe(mv.TOPIC_MOVEMENT_STATE, self._on_state)
        for topic in ESP32_HEALTH_TOPICS:
            bus.subscribe(topic, self._on_esp32_health)
        if self._settings.mode != "esp32":
            bus.subscribe_raw(mv.TOPIC_MOVEMENT_TEST, self._sim(self._simulator.on_test), qos=1)
            stop = self._sim(self._simulator.on_stop)
            bus.subscribe_raw(mv.TOPIC_MOVEMENT_STOP, stop, qos=1, priority=True)
            bus.subscribe_raw(mv.TOPIC_MOVEMENT_FRAME, self._sim(self._simulator.on_frame), qos=1)

    async def run(self) -> None:
        """Pick the controller (real or simulated), report ready, run the simulator if used."""
        await self.bus.wait_connected()
        mode = self._settings.mode
        if mode == "auto":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._esp32_seen.wait(), self._settings.esp32_wait_s)
            mode = "esp32" if self._esp32_seen.is_set() else "simulator"
        if mode == "esp32":
            await self.bus.set_health(True, "ready: ESP32 controller")
            return
        self._simulating = True
        _LOGGER.info("no ESP32 servo controller: simulating it on the bus")
        await self.bus.set_health(True, "ready: simulated controller (no ESP32)")
        await self._emit(
            mv.TOPIC_MOVEMENT_STATE, {"event": "firmware_online", "timestamp": time.time()}
        )
        await self._simulator.run()

    # -- commands ----------------------------------------------------------------------------
    async def _on_command(self, message: RawMessage) -> None:
        metrics = self.bus.metrics
        try:
            command = parse_command(message.payload, message.properties)
        except InvalidCommand as err:
            metrics.inc("commands_invalid")
            _LOGGER.warning("invalid movement command refused: %s", err.detail)
            await self._refuse("command_failed", err.detail, err.command, err.request_id)
            return
        if command.command == "stop":
            await self.bus.publish_raw(
                mv.TOPIC_MOVEMENT_STOP,
                firmware_json(mv.EmergencyStopCommand(reason="stop command")),
                qos=1,
            )
            return
        refusal = self._gate.admit(command.id, self._clock())
        if refusal is not None:
            metrics.inc(f"commands_refused.{refusal.event}")
            number = self._refusals_logged.count(refusal.event)
            if number is not None:  # a flood of commands would otherwise flood the log
                _LOGGER.info(
                    "movement %s refused (%d so far): %s", command.command, number, refusal.detail
                )
            await self._refuse(refusal.event, refusal.detail, command.command, command.id)
            return
        metrics.inc("commands_forwarded")
        _LOGGER.info("forwarding %s (speed %.2f)", command.command, command.speed)
        await self.bus.publish_raw(
            mv.TOPIC_MOVEMENT_TEST, firmware_json(to_firmware(command)), qos=1
        )

    async def _refuse(
        self,
        event: mv.MovementStatusEvent,
        detail: str,
        command: str | None,
        request_id: str | None,
    ) -> None:
        await self.bus.publish(
            mv.TOPIC_MOVEMENT_STATUS,
            mv.MovementStatusUpdate(
                event=event, command=command, detail=detail[:1000], request_id=request_id
            ),
        )

    async def _on_stop(self, message: Message) -> None:
        stop: mv.EmergencyStopCommand = message.data
        self.bus.metrics.inc("emergency_stops")
        _LOGGER.warning("emergency stop: %s", stop.reason or "no reason given")
        self._gate.stopped(self._clock())

    # -- what the controller reports ---------------------------------------------------------
    async def _on_status(self, message: Message) -> None:
        status: mv.MovementStatusUpdate = message.data
        self.bus.metrics.inc(f"status.{status.event}")
        if status.event in _FINAL_EVENTS and status.request_id:
            self._gate.finished(status.request_id)

    async def _on_state(self, message: Message) -> None:
        state: mv.MovementState = message.data
        self.bus.metrics.inc(f"state.{state.event}")
        if state.event in ("command_error", "error"):
            _LOGGER.warning("controller reports %s: %s", state.event, state.error or state.detail)

    async def _on_esp32_health(self, message: Message) -> None:
        if not message.data.ok:
            return
        self._esp32_seen.set()
        if self._simulating:
            # Two controllers would run every command twice.
            _LOGGER.warning("an ESP32 controller reports healthy: the simulator stops answering")
            self._simulating = False
            await self.bus.set_health(True, "ready: ESP32 controller")

    # -- simulator plumbing ------------------------------------------------------------------
    def _sim(self, handler: Callable[[bytes], Any]) -> Callable[[RawMessage], Any]:
        async def deliver(message: RawMessage) -> None:
            if self._simulating:
                await handler(message.payload)

        return deliver

    async def _emit(self, topic: str, document: dict[str, Any]) -> None:
        await self.bus.publish_raw(topic, orjson.dumps(document), qos=1)


def build(runtime: RuntimeSettings) -> MovementService:
    """Build the movement service from ``MOVEMENT_*`` settings (``tars run movement``)."""
    del runtime  # the movement service keeps no files
    return MovementService(MovementSettings())
