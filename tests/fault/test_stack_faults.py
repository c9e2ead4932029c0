"""Faults on the real stack under `tars up`: fuzz, floods, SIGKILLs of services, memory, broker.

One stack serves the whole module (starting it costs ~20 s); the tests run in file order and
each leaves it healthy for the next. Timings are reported by `tars bench faults`; here they
are only generous timeouts.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from tests.support.collect import Collector
from tests.support.openai_server import OpenAIServer, text_stream

from tars.bench import fuzz
from tars.bench.faults import STACK_SERVICES, stack_env
from tars.bench.flood import FLOOD_MESSAGES, flood_movement, flood_router, observe
from tars.bench.probes import probe_all
from tars.bench.restarts import kill_broker, kill_service
from tars.bench.upstack import HealthEvent, UpStack, kill
from tars.contracts import llm
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.memory import TOPIC_MEMORY_REMEMBER, MemoryFact, MemoryQuery
from tars.contracts.metrics import metrics_topic
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.runtime.mqtt_bus import MqttBus

pytestmark = [pytest.mark.fault, pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]
REPO = Path(__file__).resolve().parents[2]
SLOW_REPLY = text_stream(
    ["Well, ", "let ", "me ", "think ", "about ", "that ", "for ", "a ", "moment. ", "Done."],
    delay_s=0.4,
)
"""What the scripted LLM server answers: about 4 s of streaming, so a turn is long enough
to kill the broker in the middle of it."""
PATIENCE_S = 90.0
"""Timeouts only: nothing here measures speed (the machine is shared and noisy)."""


def fuzz_per_topic() -> int:
    """Fuzzed messages per topic: 200 here (8,000+ in all), TARS_FAULTS_FUZZ_PER_TOPIC to scale."""
    return int(os.environ.get("TARS_FAULTS_FUZZ_PER_TOPIC", "200"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer(default=SLOW_REPLY) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    llm_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[UpStack]:
    env = stack_env(llm_base_url=llm_server.base_url)
    async with UpStack(STACK_SERVICES, tmp_path_factory.mktemp("fault-stack"), env) as up:
        yield up


def stack_client_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("MQTT_")}


async def connected(*buses: MqttBus) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(bus.run(), name=f"test:{bus.service}") for bus in buses]
    for bus in buses:
        await asyncio.wait_for(bus.wait_connected(), 10)
    return tasks


async def disconnect(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_fuzzed_payloads_leave_every_service_alive_and_answering(stack: UpStack) -> None:
    pids = stack.service_pids()
    metrics = Collector()
    watcher = stack.bus("cli")
    watcher.subscribe(metrics_topic("ui-web"), metrics)
    targets = fuzz.targets()
    buses = {user: stack.bus(user) for user in fuzz.users(targets)}
    tasks = await connected(watcher, *buses.values())
    try:
        sent = await fuzz.send(buses, targets, fuzz_per_topic())
        # The negative check: the dashboard, subscribed to every JSON topic, refused them.
        # (A fuzzed message may by chance be valid, and QoS 0 ones may be dropped.)
        refused = await metrics.wait_for(
            lambda m: m.data.counters.get("rejected", 0) >= sent.json_messages * 0.9, PATIENCE_S
        )
    finally:
        await disconnect(tasks)
    assert len(sent.per_topic) >= 23
    assert sum(sent.per_topic.values()) >= 4600
    assert set(sent.kinds) >= {*fuzz.KINDS, "random_frame"}
    assert refused.data.counters["rejected"] >= sent.json_messages * 0.9
    answers = await probe_all(stack, PATIENCE_S)
    assert set(answers) == set(STACK_SERVICES)
    assert stack.service_pids() == pids  # alive: not one process died and was restarted
    assert not [e for e in stack.health.events if e.event == "lost"]


async def test_control_messages_overtake_a_flood_on_another_topic(stack: UpStack) -> None:
    publisher, stt, wake, observer = (stack.bus(u) for u in ("cli", "stt", "wake", "cli"))
    seen = observe(observer)
    tasks = await connected(publisher, stt, wake, observer)
    try:
        stop = await flood_movement(publisher, observer, seen, FLOOD_MESSAGES, PATIENCE_S)
        barge_in = await flood_router(stt, wake, seen, FLOOD_MESSAGES, PATIENCE_S)
    finally:
        await disconnect(tasks)
    print(f"\nflood: {stop}\n{barge_in}")
    # The stop was handled while flood commands were still queued behind it, and before the
    # marker command published after the whole flood (and before the stop) was.
    assert stop.flood_answers_after_control > 0
    assert stop.marker_after_control
    # The barge-in (a priority subscription: its own connection) was handled before the
    # router had even read the flood: the marker sent after the flood was answered later.
    assert barge_in.control_delay_ms > 0  # handled (a timeout above otherwise)
    assert barge_in.marker_after_control


async def wait_acknowledged(prober: MqttBus, tag: str, index: int) -> int:
    async with asyncio.timeout(PATIENCE_S):
        while True:  # each round is a query and its answer: no sleep
            reply = await prober.request(
                "memory/query", MemoryQuery(text=f"z{tag}{index}", top_k=5),
                reply_topic="memory/results", timeout_s=PATIENCE_S,
            )  # fmt: skip
            if any(f"z{tag}{index}" in str(r.document) for r in reply.data.results):
                return index


async def test_memory_survives_a_sigkill_in_the_middle_of_writing(stack: UpStack) -> None:
    """Facts stream in; the ones memory acknowledged (returned by a query) survive the kill."""
    writer, prober = stack.bus("cli"), stack.bus("cli")
    prober.expect_replies("memory/results")
    tasks = await connected(writer, prober)
    tag = f"walfact{int(time.time())}"
    try:
        writes = [
            writer.publish(TOPIC_MEMORY_REMEMBER, MemoryFact(text=f"{tag} number {i} z{tag}{i}"))
            for i in range(400)
        ]
        await asyncio.gather(*writes)
        # Acknowledged: a fact a query returns is committed; one worker stores facts in
        # order, so every fact before it is committed too. Ask until fact 30 is back.
        acknowledged = await wait_acknowledged(prober, tag, 30)
        restart = await kill_service(stack, "memory", PATIENCE_S)  # writes still pending
    finally:
        await disconnect(tasks)
    database = stack.data_dir / "memory" / "memory.sqlite3"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {
            row[0] for row in conn.execute("SELECT text FROM facts WHERE text LIKE ?", (f"{tag}%",))
        }
    missing = [i for i in range(acknowledged + 1) if f"{tag} number {i} z{tag}{i}" not in stored]
    assert not missing
    assert restart.ready.ready


async def test_broker_sigkill_mid_turn_ends_the_turn_and_everything_recovers(
    stack: UpStack, llm_server: OpenAIServer
) -> None:
    client, turns, deltas = stack.bus("cli"), Collector(), Collector()
    client.subscribe(TOPIC_CONVERSATION_TURN, turns)
    client.subscribe(llm.TOPIC_LLM_STREAM, deltas)
    tasks = await connected(client)
    utt_id = f"brokerkill{int(time.time())}"
    try:
        final = FinalTranscript(
            text="tell me something long", utt_id=utt_id, satellite="cli", source="text"
        )
        await client.publish(TOPIC_STT_FINAL, final)
        await deltas.wait_for(lambda m: True, PATIENCE_S)  # the reply is streaming
        recovery = await kill_broker(stack, PATIENCE_S)
        turn = await turns.wait_for(lambda m: m.data.id == utt_id, PATIENCE_S)
    finally:
        await disconnect(tasks)
    # The turn in progress ended: completed, or with a spoken apology (route "error").
    assert turn.data.route in ("llm", "error")
    assert turn.data.reply
    assert set(recovery.recovered_s) == set(STACK_SERVICES)
    assert recovery.new_broker_pid is not None
    # The next turn works, through the command a user types.
    ask = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tars", "ask", "what time is it",
        cwd=REPO, env={**stack_client_env(), "TARS_DATA_DIR": str(stack.data_dir)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = (await asyncio.wait_for(ask.communicate(), PATIENCE_S))[0].decode()
    assert ask.returncode == 0, output
    assert "it's" in output.lower() or ":" in output


def lost(service: str) -> Callable[[HealthEvent], bool]:
    return lambda event: event.service == service and event.event == "lost" and not event.ok


async def test_every_service_sigkilled_in_turn_is_restarted_by_tars_up(stack: UpStack) -> None:
    """Each service is killed as soon as the one before was reported lost (the restarts
    overlap, which keeps this short; `tars bench faults` restarts them strictly one by one)."""
    since = len(stack.health.events)
    killed = {}
    for service in STACK_SERVICES:
        old_pid = stack.service_pid(service)
        assert old_pid is not None
        killed[service] = (old_pid, kill(old_pid))
        await stack.health.wait_for(lost(service), PATIENCE_S, since)
    for service, (old_pid, at) in killed.items():
        ready = await stack.wait_ready(service, since=since, timeout_s=PATIENCE_S, after=at)
        assert ready.ready
        assert stack.service_pid(service) not in (None, old_pid)
    assert set(await probe_all(stack, PATIENCE_S)) == set(STACK_SERVICES)
