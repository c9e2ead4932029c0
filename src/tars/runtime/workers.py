"""Supervised per-satellite workers: a bounded queue and a restarted worker per satellite.

A service that keeps state per satellite (wake's detector, stt's segmenter) hands each
satellite's input to a `SatelliteWorkers` with `SatelliteWorkers.put`. Per satellite (a
*lane*) there is a bounded queue and one worker task named ``<service>:worker:<satellite>``.
The service's ``run()`` awaits `SatelliteWorkers.run`, the supervisor that owns those tasks,
so they are cancelled with the service and cancellation is never swallowed.

Behaviour, and the counters it leaves in the service's metrics:

- **Bounded queues**: a full queue drops its oldest item (``workers.dropped``), so audio
  stays near real time and one slow or flooded satellite cannot grow memory.
- **Restarts**: a worker that raises is logged with its exception (``workers.failed``) and
  restarted after a backoff (0.5 s doubling to 10 s) with fresh state from the service's
  factory (``workers.restarted``); its queue is kept. A worker that returns ends its lane.
- **Health**: a restart keeps ``ok: true`` with the event ``worker <sat> restarted after
  <error>``. A worker that fails `WorkerLimits.crash_loop` times in a row, each time within
  `WorkerLimits.stable_s` of its start, is in a crash loop: health is ``ok: false``
  (``worker <sat> crash loop``, the error in ``err``) until it has run ``stable_s`` without
  failing (``worker <sat> recovered``) or its lane is closed.
- **Bounds on satellites**: at most `WorkerLimits.max_keys` lanes; a new satellite closes the
  least recently active one (``workers.evicted``), and a lane without input for
  `WorkerLimits.idle_s` is closed (``workers.idle_closed``). Closing cancels the worker,
  whose state then goes to the service's ``close_state`` and the key to ``on_removed``.
- **Admission**: a satellite refused by `WorkerLimits.policy` (outside the deployment's
  allowlist, or owned by another worker) gets no lane at all (``workers.refused``,
  ``workers.refused.<reason>``; logged once per satellite).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tars.runtime.bus import Bus
from tars.runtime.logs import log_context
from tars.runtime.satellites import SatellitePolicy

_LOGGER = logging.getLogger(__name__)
_HEALTH_TIMEOUT_S = 5.0
_ERROR_CHARS = 200
_DROP_LOG_EVERY = 1000
_REFUSED_LOGGED = 1024
"""Refused satellites remembered for logging once each; past that, refusals are only counted."""
"""A lane that keeps dropping logs its first drop, then every this many (all are counted)."""

ItemT = TypeVar("ItemT")
StateT = TypeVar("StateT")


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    """Bounds and restart policy of a `SatelliteWorkers`."""

    queue_size: int = 250
    """Items queued per satellite before the oldest is dropped."""
    max_keys: int = 32
    """Satellites served at once; a new one closes the least recently active."""
    idle_s: float = 0.0
    """Seconds without input after which a satellite's lane is closed; 0 never closes it."""
    restart_s: float = 0.5
    """Delay before the first restart of a failed worker, doubled per consecutive failure."""
    max_restart_s: float = 10.0
    """Longest delay before a restart."""
    crash_loop: int = 3
    """Consecutive failures after which health reports ``ok: false``."""
    stable_s: float = 30.0
    """Running this long without failing ends a run of consecutive failures."""
    policy: SatellitePolicy = SatellitePolicy()
    """Which satellites get a lane at all (allowlist and this worker's ownership)."""

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.max_keys < 1 or self.crash_loop < 1:
            raise ValueError("queue_size, max_keys and crash_loop must be at least 1")
        if min(self.idle_s, self.restart_s, self.max_restart_s, self.stable_s) < 0:
            raise ValueError("worker delays must not be negative")


@dataclass(eq=False)
class _Lane(Generic[ItemT, StateT]):
    """One satellite: its queue, worker task and failure record."""

    key: str
    queue: asyncio.Queue[ItemT]
    last_active: float
    state: StateT | None = None
    task: asyncio.Task[None] | None = None
    started: float | None = None  # when the current worker started; None while (re)starting
    failures: int = 0  # consecutive
    error: str = ""
    dropped: int = 0


class SatelliteWorkers(Generic[ItemT, StateT]):
    """Per-satellite bounded queues and supervised worker tasks (see the module docstring)."""

    def __init__(
        self,
        bus: Bus,
        work: Callable[[str, StateT, asyncio.Queue[ItemT]], Awaitable[None]],
        open_state: Callable[[str], Awaitable[StateT]],
        *,
        limits: WorkerLimits | None = None,
        close_state: Callable[[str, StateT], None] | None = None,
        on_removed: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the lanes; workers start once `run` does.

        Args:
            bus: The service's bus: task names, metrics and health.
            work: ``work(satellite, state, queue)``: consumes the satellite's queue, normally
                forever, in the lane's task (so CPU work belongs in a thread).
            open_state: Makes fresh state for a satellite, at start and at every restart
                (in the worker task, so it may load a model with ``asyncio.to_thread``).
            limits: Queue size, satellite cap, idle time and restart policy.
            close_state: Called with a state that is discarded (failure, close or stop).
            on_removed: Called with a satellite whose lane was closed (evicted, idle,
                removed or returned), to drop the service's own per-satellite records.
            clock: Monotonic seconds, for idle and stable times.
        """
        self._bus = bus
        self._work = work
        self._open_state = open_state
        self._close_state = close_state
        self._on_removed = on_removed
        self._limits = limits or WorkerLimits()
        self._clock = clock
        # Least recently active first: eviction takes the head.
        self._lanes: OrderedDict[str, _Lane[ItemT, StateT]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing: dict[str, str] = {}  # satellites in a crash loop -> last error
        self._health: tuple[bool, str, str | None] | None = None  # waiting to be published
        self._wakeup = asyncio.Event()
        self._running = False
        self._refused: set[str] = set()  # satellites whose refusal was logged

    # -- what the service calls -----------------------------------------------------
    def put(self, key: str, item: ItemT) -> bool:
        """Queue ``item`` for satellite ``key``, opening its lane if needed (never blocks).

        Returns:
            False when the policy refuses ``key`` (the item is dropped and counted).
        """
        lane = self._lanes.get(key)
        if lane is None:
            reason = self._limits.policy.refusal(key)
            if reason is not None:
                self._refuse(key, reason)
                return False
            lane = self._open_lane(key)
        else:
            self._lanes.move_to_end(key)
        lane.last_active = self._clock()
        if lane.queue.full():
            # Drop the oldest, not the newest: for live audio the freshest data matters.
            lane.queue.get_nowait()
            lane.dropped += 1
            self._bus.metrics.inc("workers.dropped")
            if lane.dropped == 1 or lane.dropped % _DROP_LOG_EVERY == 0:
                _LOGGER.warning("worker for %s is behind: %d items dropped", key, lane.dropped)
        lane.queue.put_nowait(item)
        return True

    def _refuse(self, key: str, reason: str) -> None:
        self._bus.metrics.inc("workers.refused")
        self._bus.metrics.inc(f"workers.refused.{reason}")
        if key not in self._refused and len(self._refused) < _REFUSED_LOGGED:
            self._refused.add(key)
            _LOGGER.warning("satellite %s refused (%s): its input is dropped", key, reason)

    def state(self, key: str) -> StateT | None:
        """The live state of satellite ``key``; None without a lane or while restarting."""
        lane = self._lanes.get(key)
        return None if lane is None else lane.state

    def pending(self, key: str) -> int:
        """Items queued for satellite ``key`` (0 without a lane)."""
        lane = self._lanes.get(key)
        return 0 if lane is None else lane.queue.qsize()

    def keys(self) -> list[str]:
        """Satellites with a lane, least recently active first."""
        return list(self._lanes)

    def __contains__(self, key: object) -> bool:
        return key in self._lanes

    def remove(self, key: str) -> None:
        """Close the lane of ``key`` (if any): cancel its worker and drop its queue."""
        lane = self._lanes.pop(key, None)
        if lane is None:
            return
        if lane.task is not None and lane.task is not asyncio.current_task():
            lane.task.cancel()
        if self._failing.pop(key, None) is not None:
            self._report(f"worker {key} closed")
        if self._on_removed is not None:
            try:
                self._on_removed(key)
            except Exception:
                _LOGGER.exception("cleaning up satellite %s failed", key)

    # -- the supervisor -------------------------------------------------------------------
    async def run(self) -> None:
        """Supervise the workers until cancelled; on the way out stop every one of them.

        Starts the lanes opened so far, closes idle lanes, notices recoveries and
        publishes health. Never returns normally; cancellation propagates.
        """
        if self._running:
            raise RuntimeError("SatelliteWorkers.run is already running")
        self._running = True
        try:
            for lane in self._lanes.values():
                self._start(lane)
            while True:
                await self._wait(self._next_deadline())
                self._sweep(self._clock())
                await self._publish_health()
        finally:
            self._running = False
            await self._stop_all()

    async def _wait(self, deadline: float | None) -> None:
        if self._health is None:
            delay = None if deadline is None else max(0.0, deadline - self._clock())
            try:
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            except TimeoutError:
                pass  # a deadline is due
        self._wakeup.clear()

    def _next_deadline(self) -> float | None:
        deadlines: list[float] = []
        if self._limits.idle_s > 0:
            deadlines += [lane.last_active + self._limits.idle_s for lane in self._lanes.values()]
        deadlines += [
            lane.started + self._limits.stable_s
            for lane in self._lanes.values()
            if lane.failures and lane.started is not None
        ]
        return min(deadlines, default=None)

    def _sweep(self, now: float) -> None:
        """Close idle lanes and end the failure runs of workers that have run long enough."""
        idle_s, stable_s = self._limits.idle_s, self._limits.stable_s
        for lane in list(self._lanes.values()):
            if idle_s > 0 and now >= lane.last_active + idle_s:
                self._bus.metrics.inc("workers.idle_closed")
                _LOGGER.info("no input from %s for %.0f s: closing its worker", lane.key, idle_s)
                self.remove(lane.key)
            elif lane.failures and lane.started is not None and now >= lane.started + stable_s:
                lane.failures = 0
                if self._failing.pop(lane.key, None) is not None:
                    _LOGGER.info("worker for %s recovered", lane.key)
                    self._report(f"worker {lane.key} recovered")

    async def _stop_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        self._failing.clear()

    # -- lanes ----------------------------------------------------------------------------
    def _open_lane(self, key: str) -> _Lane[ItemT, StateT]:
        while len(self._lanes) >= self._limits.max_keys:
            oldest = next(iter(self._lanes))
            self._bus.metrics.inc("workers.evicted")
            _LOGGER.warning("satellite cap reached: closing the least recently active, %s", oldest)
            self.remove(oldest)
        lane: _Lane[ItemT, StateT] = _Lane(
            key, asyncio.Queue(maxsize=self._limits.queue_size), self._clock()
        )
        self._lanes[key] = lane
        self._bus.metrics.inc("workers.opened")
        if self._running:
            self._start(lane)
        self._wakeup.set()  # the supervisor may be waiting with no deadline at all
        return lane

    def _start(self, lane: _Lane[ItemT, StateT]) -> None:
        name = f"{self._bus.service}:worker:{lane.key}"
        lane.task = asyncio.create_task(self._serve_lane(lane), name=name)
        self._tasks.add(lane.task)
        lane.task.add_done_callback(self._tasks.discard)

    async def _serve_lane(self, lane: _Lane[ItemT, StateT]) -> None:
        with log_context(satellite=lane.key):
            while True:
                try:
                    await self._run_worker(lane)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    await self._after_failure(lane, err)
                else:
                    _LOGGER.info("worker for %s finished", lane.key)
                    if self._lanes.get(lane.key) is lane:
                        self.remove(lane.key)
                    return

    async def _run_worker(self, lane: _Lane[ItemT, StateT]) -> None:
        lane.started = None
        state = await self._open_state(lane.key)
        lane.state = state
        try:
            lane.started = self._clock()
            if lane.failures:
                self._bus.metrics.inc("workers.restarted")
                _LOGGER.info("worker for %s restarted", lane.key)
                self._report(f"worker {lane.key} restarted after {lane.error}")
            await self._work(lane.key, state, lane.queue)
        finally:
            lane.state = None
            self._discard_state(lane.key, state)

    def _discard_state(self, key: str, state: StateT) -> None:
        if self._close_state is None:
            return
        try:
            self._close_state(key, state)
        except Exception:
            _LOGGER.exception("closing the state of %s failed", key)

    async def _after_failure(self, lane: _Lane[ItemT, StateT], err: Exception) -> None:
        limits = self._limits
        if lane.started is not None and self._clock() - lane.started >= limits.stable_s:
            lane.failures = 0  # it had been running fine: this failure starts a new run
        lane.failures += 1
        lane.error = f"{type(err).__name__}: {err}"[:_ERROR_CHARS]
        self._bus.metrics.inc("workers.failed")
        delay = min(limits.max_restart_s, limits.restart_s * 2 ** (lane.failures - 1))
        message = "worker for %s failed (%d in a row), restarting in %.1f s"
        _LOGGER.error(message, lane.key, lane.failures, delay, exc_info=err)
        if lane.failures >= limits.crash_loop:
            self._failing[lane.key] = lane.error
            self._report(f"worker {lane.key} crash loop")
        await asyncio.sleep(delay)

    # -- health ---------------------------------------------------------------------------
    def _report(self, event: str) -> None:
        """Queue a health update for the supervisor: not ok while any worker crash-loops."""
        if self._failing:
            key, error = next(iter(self._failing.items()))
            self._health = (False, f"worker {key} crash loop", error)
        else:
            self._health = (True, event, None)
        self._wakeup.set()

    async def _publish_health(self) -> None:
        health, self._health = self._health, None
        if health is None:
            return
        try:
            await asyncio.wait_for(self._bus.set_health(*health), _HEALTH_TIMEOUT_S)
        except Exception as err:
            # Health is advisory; a broker hiccup must not stop the supervisor.
            _LOGGER.warning("publishing worker health failed: %s", err)
