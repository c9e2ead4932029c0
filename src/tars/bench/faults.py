"""`tars bench faults`: the stack under faults, timed. The fault tests assert the behaviour.

On one `tars up` stack (every service but the microphone and the terminal UI; the llm
service pointed at an address where nothing listens, so it answers every request with a
reported error at once) it measures, in this order:

1. fuzz: ``fuzz_per_topic`` fuzzed payloads (5,000) on every topic of the contract, then
   every service probed; reports whether each process survived and answered, and how long
   each answer took;
2. control under flood: ``flood_runs`` times, 10,000 ``movement/command`` then a stop, and
   10,000 ``stt/partial`` then a barge-in; the delay from publishing the control message to
   its effect, seen by an observer and as stamped by the service when it published it
   (p50/max), and how many flood messages were still queued behind it;
3. broker SIGKILL: seconds until each service reports healthy again (`tars up` restarts the
   broker);
4. service SIGKILL, each in turn: seconds until the broker's Last-Will reports it lost and
   until `tars up`'s new process reports ready.

``TARS_FAULTS_SCENARIOS`` picks some of them (``flood`` alone takes about two minutes).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tars.bench import fuzz, report
from tars.bench.flood import FloodResult, flood_movement, flood_router, observe
from tars.bench.probes import probe_all
from tars.bench.restarts import kill_broker, kill_service
from tars.bench.upstack import UpStack
from tars.runtime.loop import run as run_loop
from tars.runtime.settings import RuntimeSettings, TarsSettings

STACK_SERVICES = [
    "memory", "llm", "tts", "router", "stt", "wake", "mcp", "camera", "movement", "ui-web",
]  # fmt: skip
"""Every service `tars up` runs on a machine without a sound card."""
_PATIENCE_S = 180.0
Scenario = Literal["fuzz", "flood", "kills"]


class FaultBenchSettings(TarsSettings):
    """Sizes of `tars bench faults` (env prefix ``TARS_FAULTS_``)."""

    model_config = SettingsConfigDict(env_prefix="TARS_FAULTS_")

    fuzz_per_topic: int = Field(default=5000, ge=0)
    """Fuzzed payloads per topic."""
    flood_messages: int = Field(default=10_000, ge=1)
    """Messages in one flood."""
    flood_runs: int = Field(default=5, ge=1)
    """Floods per scenario."""
    scenarios: Annotated[frozenset[Scenario], NoDecode] = Field(
        default=frozenset({"fuzz", "flood", "kills"}), min_length=1
    )
    """Which scenarios run (comma-separated: fuzz, flood, kills), always in that order."""

    @field_validator("scenarios", mode="before")
    @classmethod
    def _split_scenarios(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value


def stack_env(llm_base_url: str) -> dict[str, str]:
    """Environment of the fault stack: fast heartbeats and metrics, no sound, free ports."""
    return {
        "TARS_HEARTBEAT_S": "1",
        "TARS_METRICS_INTERVAL_S": "1",
        "TTS_SINK": "null",
        "ROUTER_ONLINE_ANNOUNCE": "0",
        "UI_WEB_PORT": "0",
        "CAMERA_HTTP_PORT": "0",
        "MOVEMENT_MODE": "simulator",
        "LLM_BASE_URL": llm_base_url,
    }


async def _fuzz(stack: UpStack, per_topic: int) -> dict[str, Any]:
    pids = stack.service_pids()
    targets = fuzz.targets()
    buses = {user: stack.bus(user) for user in fuzz.users(targets)}
    tasks = [asyncio.create_task(bus.run(), name=f"fuzz:{user}") for user, bus in buses.items()]
    try:
        for bus in buses.values():
            await asyncio.wait_for(bus.wait_connected(), 10)
        began = time.monotonic()
        sent = await fuzz.send(buses, targets, per_topic)
        seconds = time.monotonic() - began
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    answers = await probe_all(stack, _PATIENCE_S)
    survivors = [name for name, pid in stack.service_pids().items() if pid == pids[name]]
    return {
        "per_topic": per_topic,
        "topics": len(sent.per_topic),
        "messages": sent.json_messages + sent.binary_messages,
        "megabytes": round(sent.bytes_sent / 2**20, 1),
        "kinds": dict(sent.kinds),
        "send_seconds": round(seconds, 1),
        "services_alive": len(survivors),
        "services_restarted": sorted(set(stack.services) - set(survivors)),
        "probe_answer_s": answers,
    }


def _flood_summary(runs: list[FloodResult]) -> dict[str, Any]:
    delays = [run.control_delay_ms for run in runs]
    return {
        "control_delay_ms": report.percentiles(delays),
        "control_acted_ms": report.percentiles([run.control_acted_ms for run in runs]),
        "control_acked_ms": report.percentiles([run.control_acked_ms for run in runs]),
        "flood_messages": runs[0].flood,
        "flood_still_queued_after_control": [run.flood_answers_after_control for run in runs],
        "marker_after_control": [run.marker_after_control for run in runs],
        "flood_seconds": [round(run.flood_seconds, 2) for run in runs],
    }


async def _floods(stack: UpStack, settings: FaultBenchSettings) -> dict[str, Any]:
    publisher, stt, wake, observer = (stack.bus(u) for u in ("cli", "stt", "wake", "cli"))
    seen = observe(observer)
    buses = (publisher, stt, wake, observer)
    tasks = [asyncio.create_task(bus.run(), name=f"flood:{bus.client_id}") for bus in buses]
    movement: list[FloodResult] = []
    router: list[FloodResult] = []
    try:
        for bus in buses:
            await asyncio.wait_for(bus.wait_connected(), 10)
        for _ in range(settings.flood_runs):
            count = settings.flood_messages
            movement.append(await flood_movement(publisher, observer, seen, count, _PATIENCE_S))
            router.append(await flood_router(stt, wake, seen, count, _PATIENCE_S))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"movement_stop": _flood_summary(movement), "router_barge_in": _flood_summary(router)}


async def _kills(stack: UpStack) -> dict[str, Any]:
    broker = await kill_broker(stack, _PATIENCE_S)
    await probe_all(stack, _PATIENCE_S)
    restarts = {}
    for service in stack.services:
        restart = await kill_service(stack, service, _PATIENCE_S)
        restarts[service] = {
            "lost_after_s": restart.lost_after_s,
            "ready_after_s": restart.ready_after_s,
        }
    return {
        "broker_sigkill_recovered_s": broker.recovered_s,
        "broker_sigkill_slowest_s": broker.slowest_s,
        "service_sigkill": restarts,
    }


async def measure(settings: FaultBenchSettings) -> dict[str, Any]:
    """Run the stack and every fault scenario; the figures."""
    with tempfile.TemporaryDirectory(prefix="tars-bench-faults-") as directory:
        # Nothing listens on port 9 (discard): each llm request fails at once, reported.
        env = stack_env("http://127.0.0.1:9/v1")
        async with UpStack(STACK_SERVICES, Path(directory), env) as stack:
            results: dict[str, Any] = {"services": STACK_SERVICES}
            if "fuzz" in settings.scenarios:
                results["fuzz"] = await _fuzz(stack, settings.fuzz_per_topic)
            if "flood" in settings.scenarios:
                results["flood"] = await _floods(stack, settings)
            if "kills" in settings.scenarios:
                results.update(await _kills(stack))
    return results


def _print(results: dict[str, Any]) -> None:
    fuzzed = results.get("fuzz")
    if fuzzed is not None:
        print(
            f"  fuzz: {fuzzed['messages']} payloads ({fuzzed['per_topic']}/topic on "
            f"{fuzzed['topics']} topics, {fuzzed['megabytes']} MB): {fuzzed['services_alive']}/"
            f"{len(results['services'])} services alive and answering"
        )
    for name, flood in results.get("flood", {}).items():
        delay, acted = flood["control_delay_ms"], flood["control_acted_ms"]
        print(f"  {name} under a {flood['flood_messages']}-message flood: seen after "
              f"p50 {delay['p50']:.0f} ms, max {delay['max']:.0f} ms; acted on after "
              f"p50 {acted['p50']:.0f} ms, max {acted['max']:.0f} ms")  # fmt: skip
    if "broker_sigkill_slowest_s" in results:
        slowest = results["broker_sigkill_slowest_s"]
        print(f"  broker SIGKILL: every service healthy after {slowest:.1f} s")
    for service, restart in results.get("service_sigkill", {}).items():
        print(f"  {service} SIGKILL: lost after {restart['lost_after_s']:.2f} s, "
              f"ready after {restart['ready_after_s']:.1f} s")  # fmt: skip


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench faults`: fuzz, floods and SIGKILLs against the running stack."""
    del runtime
    settings = FaultBenchSettings()
    print(f"bench faults: `tars up` with {', '.join(STACK_SERVICES)} ...", flush=True)
    results = run_loop(measure(settings))
    _print(results)
    chart = {
        f"{name} p50 ms": flood["control_delay_ms"]["p50"]
        for name, flood in results.get("flood", {}).items()
    }
    if "broker_sigkill_slowest_s" in results:
        chart["broker SIGKILL recovery s"] = results["broker_sigkill_slowest_s"]
    print(f"report: {report.write(out_dir, 'faults', results, chart)}")
    return 1 if results.get("fuzz", {}).get("services_restarted") else 0
