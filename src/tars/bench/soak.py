"""`tars bench soak`: many text turns through the running stack; failures and resident memory.

Starts `tars up` with the text services (router, memory, tts; no microphone, no LLM: the
questions are the ones the router answers by rule, so the soak runs offline and measures the
stack, not a model), then sends ``turns`` typed turns one after another through the in-process
``tars ask`` path (:func:`tars.commands.ask.ask`: a typed final transcript from the ``cli``
satellite, then the router's finished turn), from one client connection. Each turn is
spoken by tts (for the ``cli`` satellite, sent as audio on the bus) and stored by memory.

Reports failed turns (no answer in time, or a turn whose route is ``error``), latency
p50/p90/max, and the resident memory (VmRSS) of every process at the start, middle and end,
sampled every ``sample_every`` turns, with a least-squares slope in MiB per 100 turns.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.bench import report
from tars.bench.stack import tree_rss
from tars.bench.upstack import UpStack
from tars.commands.ask import CLI_SATELLITE, NoAnswer, ask
from tars.contracts.base import new_id
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, ConversationTurn
from tars.runtime.bus import Message
from tars.runtime.loop import run as run_loop
from tars.runtime.settings import RuntimeSettings, TarsSettings

SOAK_SERVICES = ["memory", "tts", "router"]
QUESTIONS = (
    "what time is it", "what's the date today", "say the soak test is still running",
    "what day is it", "say hello from the soak",
)  # fmt: skip
"""Questions the router answers by rule (no LLM), in rotation."""


class SoakSettings(TarsSettings):
    """Size of `tars bench soak` (env prefix ``TARS_SOAK_``)."""

    model_config = SettingsConfigDict(env_prefix="TARS_SOAK_")

    turns: int = Field(default=500, ge=1)
    """Text turns to send."""
    sample_every: int = Field(default=25, ge=1)
    """Resident memory is sampled every this many turns."""
    turn_timeout_s: float = Field(default=30.0, gt=0)
    """A turn not answered within this is a failed turn."""


class _Turns:
    """One subscription for every turn's answer, keyed by utterance id."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[ConversationTurn]] = {}

    def expect(self, utt_id: str) -> asyncio.Future[ConversationTurn]:
        future: asyncio.Future[ConversationTurn] = asyncio.get_running_loop().create_future()
        self.waiting[utt_id] = future
        return future

    async def __call__(self, message: Message) -> None:
        turn: ConversationTurn = message.data
        future = self.waiting.pop(turn.id, None)
        if future is not None and not future.done():
            future.set_result(turn)


def _slope_per_100(samples: list[tuple[int, float]]) -> float:
    """Least-squares growth in MiB per 100 turns (0 with fewer than two samples)."""
    if len(samples) < 2:
        return 0.0
    turns, sizes = np.asarray(samples, dtype=np.float64).T
    return round(float(np.polyfit(turns, sizes, 1)[0] * 100), 3)


async def _soak(stack: UpStack, settings: SoakSettings) -> dict[str, Any]:
    client = stack.bus("cli")
    answers = _Turns()
    client.subscribe(TOPIC_CONVERSATION_TURN, answers)
    task = asyncio.create_task(client.run(), name="soak:cli")
    latencies: list[float] = []
    failures: list[dict[str, Any]] = []
    rss: list[tuple[int, dict[str, float]]] = [(0, tree_rss(stack.pid))]
    try:
        await asyncio.wait_for(client.wait_connected(), 10)
        for index in range(settings.turns):
            text = QUESTIONS[index % len(QUESTIONS)]
            utt_id = new_id()
            began = time.monotonic()
            try:
                answer = answers.expect(utt_id)
                turn = await ask(
                    client, answer, text, utt_id,
                    satellite=CLI_SATELLITE, timeout_s=settings.turn_timeout_s,
                )  # fmt: skip
            except NoAnswer:
                answers.waiting.pop(utt_id, None)
                failures.append({"turn": index, "text": text, "why": "no answer"})
                continue
            latencies.append((time.monotonic() - began) * 1e3)
            if turn.route == "error" or not turn.reply:
                failures.append({"turn": index, "text": text, "why": f"route {turn.route}"})
            if (index + 1) % settings.sample_every == 0:
                rss.append((index + 1, tree_rss(stack.pid)))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return _summary(settings, latencies, failures, rss)


def _summary(
    settings: SoakSettings,
    latencies: list[float],
    failures: list[dict[str, Any]],
    rss: list[tuple[int, dict[str, float]]],
) -> dict[str, Any]:
    names = sorted(rss[0][1])
    middle = rss[len(rss) // 2]
    per_process = {
        name: {
            "start_mib": round(rss[0][1].get(name, 0.0), 1),
            "middle_mib": round(middle[1].get(name, 0.0), 1),
            "end_mib": round(rss[-1][1].get(name, 0.0), 1),
            "slope_mib_per_100_turns": _slope_per_100(
                [(turns, sizes[name]) for turns, sizes in rss if name in sizes]
            ),
            # Start-up growth (allocator arenas, caches filling) flattens; a leak does not.
            "second_half_slope_mib_per_100_turns": _slope_per_100(
                [(turns, sizes[name]) for turns, sizes in rss[len(rss) // 2 :] if name in sizes]
            ),
        }
        for name in names
    }
    return {
        "turns": settings.turns,
        "services": SOAK_SERVICES,
        "path": "in-process tars ask (tars.commands.ask.ask) over one client connection",
        "failed_turns": len(failures),
        "failures": failures[:20],
        "latency_ms": report.percentiles(latencies),
        "rss": per_process,
        "rss_samples": [{"turn": turns, **sizes} for turns, sizes in rss],
    }


async def measure(settings: SoakSettings) -> dict[str, Any]:
    """Run the text stack under `tars up` and soak it."""
    with tempfile.TemporaryDirectory(prefix="tars-bench-soak-") as directory:
        env = {"TTS_SINK": "null", "ROUTER_ONLINE_ANNOUNCE": "0", "TARS_HEARTBEAT_S": "2"}
        async with UpStack(SOAK_SERVICES, Path(directory), env) as stack:
            return await _soak(stack, settings)


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench soak`: ``TARS_SOAK_TURNS`` (500) text turns; failures and memory."""
    del runtime
    settings = SoakSettings()
    print(f"bench soak: {settings.turns} text turns through {', '.join(SOAK_SERVICES)} ...",
          flush=True)  # fmt: skip
    results = run_loop(measure(settings))
    latency = results["latency_ms"]
    print(f"  failed turns: {results['failed_turns']} of {settings.turns}")
    print(f"  latency p50 {latency['p50']:.0f} ms, p90 {latency['p90']:.0f} ms, "
          f"max {latency['max']:.0f} ms")  # fmt: skip
    for name, sizes in results["rss"].items():
        print(f"  {name}: {sizes['start_mib']:.0f} -> {sizes['middle_mib']:.0f} -> "
              f"{sizes['end_mib']:.0f} MiB ({sizes['slope_mib_per_100_turns']:+.2f} MiB/100 turns, "
              f"second half {sizes['second_half_slope_mib_per_100_turns']:+.2f})")  # fmt: skip
    chart = {name: sizes["end_mib"] for name, sizes in results["rss"].items()}
    print(f"report: {report.write(out_dir, 'soak', results, chart)}")
    return 0 if results["failed_turns"] == 0 else 1
