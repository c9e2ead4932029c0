"""SatelliteWorkers: bounded queues, restarts with fresh state, health, eviction, idle, stop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from tests.support.collect import Collector

from tars.contracts.health import health_topic
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.workers import SatelliteWorkers, WorkerLimits

FAST = WorkerLimits(queue_size=3, max_keys=2, restart_s=0.0, max_restart_s=0.0)


@dataclass(eq=False)
class State:
    """Per-satellite state: a serial number, so a restart visibly gets a fresh one."""

    key: str
    serial: int
    items: list[int] = field(default_factory=list)


class Rig:
    """A service's side of the workers: state factory, cleanup records, a clock."""

    def __init__(self, bus: MemoryBus, work: Callable[..., Awaitable[None]], limits: WorkerLimits):
        self.serials = itertools.count(1)
        self.closed: list[State] = []
        self.removed: list[str] = []
        self.opened: list[State] = []
        self.changed = asyncio.Event()
        self.now = 0.0
        self.workers: SatelliteWorkers[int, State] = SatelliteWorkers(
            bus,
            work,
            self.open_state,
            limits=limits,
            close_state=self.close_state,
            on_removed=self.removed.append,
            clock=lambda: self.now,
        )

    async def open_state(self, key: str) -> State:
        state = State(key, next(self.serials))
        self.opened.append(state)
        self.changed.set()
        return state

    def close_state(self, key: str, state: State) -> None:
        self.closed.append(state)
        self.changed.set()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait (at most 2 s) until ``condition`` holds after a state opens or closes."""
        async with asyncio.timeout(2):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    async def wait_started(self, key: str) -> None:
        await self.wait_until(lambda: any(state.key == key for state in self.opened))


async def drain(key: str, state: State, queue: asyncio.Queue[int]) -> None:
    while True:
        state.items.append(await queue.get())


class Counting:
    """A worker that records items and says when it has seen ``expected`` of them."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.done = asyncio.Event()

    async def __call__(self, key: str, state: State, queue: asyncio.Queue[int]) -> None:
        while True:
            state.items.append(await queue.get())
            if len(state.items) >= self.expected:
                self.done.set()


@contextlib.asynccontextmanager
async def running_bus() -> AsyncIterator[tuple[MemoryBus, Collector]]:
    """The service's bus and a client collecting its health, both running."""
    broker = MemoryBroker()
    bus, client = MemoryBus("svc", broker), MemoryBus("cli", broker)
    health = Collector()
    client.subscribe(health_topic("svc"), health)
    tasks = [asyncio.create_task(b.run(), name=f"test:{b.service}") for b in (bus, client)]
    try:
        for each in (bus, client):
            await asyncio.wait_for(each.wait_connected(), 1)
        yield bus, health
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def supervising(workers: SatelliteWorkers[int, State]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(workers.run(), name="svc:run")
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def event_is(text: str) -> Callable[[Message], bool]:
    return lambda message: (message.data.event or "").startswith(text)


async def test_full_queue_drops_the_oldest_and_counts_it() -> None:
    async with running_bus() as (bus, _):
        work = Counting(4)
        rig = Rig(bus, work, FAST)
        for item in range(5):
            rig.workers.put("den", item)  # before run: nothing consumes yet
        assert rig.workers.pending("den") == 3
        assert bus.metrics.count("workers.dropped") == 2
        async with supervising(rig.workers):
            await rig.wait_started("den")
            rig.workers.put("den", 5)
            await asyncio.wait_for(work.done.wait(), 2)
            state = rig.workers.state("den")
            assert state is not None
            assert state.items == [2, 3, 4, 5]


async def test_failing_worker_restarts_with_fresh_state_and_health_says_so() -> None:
    got_item = asyncio.Event()

    async def work(key: str, state: State, queue: asyncio.Queue[int]) -> None:
        item = await queue.get()
        if state.serial == 1:
            raise RuntimeError(f"boom on {item}")
        state.items.append(item)
        got_item.set()
        await asyncio.Event().wait()

    async with running_bus() as (bus, health):
        rig = Rig(bus, work, FAST)
        async with supervising(rig.workers):
            rig.workers.put("den", 1)
            message = await health.wait_for(event_is("worker den restarted"), 2)
            assert message.data.ok
            assert message.data.event == "worker den restarted after RuntimeError: boom on 1"
            rig.workers.put("den", 2)
            await asyncio.wait_for(got_item.wait(), 2)
            state = rig.workers.state("den")
            assert state is not None
            assert state.serial == 2
            assert state.items == [2]
            assert [s.serial for s in rig.closed] == [1]
            assert bus.metrics.count("workers.failed") == 1
            assert bus.metrics.count("workers.restarted") == 1


async def test_crash_loop_is_not_ok_until_the_worker_runs_long_enough() -> None:
    async def work(key: str, state: State, queue: asyncio.Queue[int]) -> None:
        if state.serial <= 3:
            raise RuntimeError(f"boom {state.serial}")
        await asyncio.Event().wait()

    async with running_bus() as (bus, health):
        rig = Rig(bus, work, WorkerLimits(max_keys=4, restart_s=0.0, crash_loop=3, stable_s=30))
        async with supervising(rig.workers):
            rig.workers.put("den", 1)
            failing = await health.wait_for(lambda m: not m.data.ok, 2)
            assert failing.data.event == "worker den crash loop"
            assert failing.data.err == "RuntimeError: boom 3"
            await rig.wait_until(lambda: len(rig.opened) == 4)
            rig.now += 30  # the fourth worker has now run stable_s without failing
            rig.workers.put("hall", 1)  # any new lane wakes the supervisor to look
            recovered = await health.wait_for(event_is("worker den recovered"), 2)
            assert recovered.data.ok
            assert recovered.data.err is None


async def test_new_satellite_beyond_the_cap_evicts_the_least_recently_active() -> None:
    async with running_bus() as (bus, _):
        rig = Rig(bus, drain, FAST)  # at most 2 satellites
        async with supervising(rig.workers):
            for key in ("den", "hall"):
                rig.workers.put(key, 0)
                await rig.wait_started(key)
            rig.workers.put("den", 1)  # den is now the most recently active
            rig.workers.put("attic", 0)
            assert rig.workers.keys() == ["den", "attic"]
            assert rig.removed == ["hall"]
            assert bus.metrics.count("workers.evicted") == 1
            await rig.wait_until(lambda: bool(rig.closed))
            assert [state.key for state in rig.closed] == ["hall"]
            assert "svc:worker:hall" not in _task_names()


async def test_idle_satellite_is_closed() -> None:
    async with running_bus() as (bus, _):
        rig = Rig(bus, drain, WorkerLimits(max_keys=4, idle_s=60.0))
        async with supervising(rig.workers):
            rig.workers.put("den", 0)
            await rig.wait_started("den")
            rig.now = 61.0
            rig.workers.put("hall", 0)  # a new lane wakes the supervisor at the new time
            await rig.wait_until(lambda: bool(rig.closed))
            assert rig.workers.keys() == ["hall"]
            assert rig.removed == ["den"]
            assert bus.metrics.count("workers.idle_closed") == 1


async def test_cancelling_the_supervisor_stops_every_worker() -> None:
    async def stuck_in_backoff(key: str, state: State, queue: asyncio.Queue[int]) -> None:
        await queue.get()
        raise RuntimeError("fails, then waits out a long backoff")

    async with running_bus() as (bus, _):
        rig = Rig(bus, drain, WorkerLimits(max_keys=4))
        task = asyncio.create_task(rig.workers.run(), name="svc:run")
        for key in ("den", "hall"):
            rig.workers.put(key, 0)
            await rig.wait_started(key)
        assert {"svc:worker:den", "svc:worker:hall"} <= _task_names()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not any(name.startswith("svc:worker:") for name in _task_names())
        assert sorted(state.key for state in rig.closed) == ["den", "hall"]
        assert rig.workers.keys() == []

        backoff = Rig(bus, stuck_in_backoff, WorkerLimits(restart_s=60.0, max_restart_s=60.0))
        task = asyncio.create_task(backoff.workers.run(), name="svc:run")
        backoff.workers.put("den", 0)
        await backoff.wait_until(lambda: bool(backoff.closed))  # failed, now backing off
        assert bus.metrics.count("workers.failed") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not any(name.startswith("svc:worker:") for name in _task_names())


async def test_worker_that_returns_ends_its_lane() -> None:
    async def once(key: str, state: State, queue: asyncio.Queue[int]) -> None:
        state.items.append(await queue.get())

    async with running_bus() as (bus, _):
        rig = Rig(bus, once, FAST)
        async with supervising(rig.workers):
            rig.workers.put("den", 0)
            await rig.wait_until(lambda: bool(rig.closed))
            assert "den" not in rig.workers
            assert rig.removed == ["den"]


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        WorkerLimits(queue_size=0)
    with pytest.raises(ValueError):
        WorkerLimits(idle_s=-1.0)


def _task_names() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks() if not task.done()}
