"""The runtime against real brokers: processes, reconnects, Last-Will, rejection, ACLs.

Everything the services rely on runs on Mosquitto and on ejabberd's mod_mqtt (``any_broker``,
``make_broker``); the password and ACL checks test the Mosquitto that `tars up` generates.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import orjson
import pytest
from tests.support.broker import BrokerUnderTest, MakeBroker, TestBroker, running
from tests.support.collect import Collector

from tars.contracts import health, llm, metrics, tts
from tars.runtime.bus import Message, RawMessage
from tars.runtime.mqtt_bus import MqttBus

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


def start_peer(broker: BrokerUnderTest) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        MQTT_URL=broker.config.url("tts"),
        MQTT_RECONNECT_MIN_S="0.1",
        MQTT_RECONNECT_MAX_S="0.5",
        TARS_METRICS_INTERVAL_S="0.3",
        TARS_HEARTBEAT_S="1",
        TARS_LOG_FORMAT="json",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.bus_peer"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def peer(any_broker: BrokerUnderTest) -> Iterator[subprocess.Popen[bytes]]:
    process = start_peer(any_broker)
    yield process
    stop_peer(process)


def stop_peer(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    process.communicate(timeout=10)


@pytest.fixture
async def router_side(
    any_broker: BrokerUnderTest,
) -> AsyncIterator[tuple[MqttBus, Collector, Collector]]:
    bus = any_broker.bus("router")
    statuses, healths = Collector(), Collector()
    bus.subscribe(tts.TOPIC_TTS_STATUS, statuses)
    bus.subscribe(health.HEALTH_PATTERN, healths)
    async with running(bus):
        yield bus, statuses, healths


def is_ready(message: Message) -> bool:
    return message.topic == "system/health/tts" and message.data.ok


async def test_message_crosses_process_boundary_enveloped_and_validated(peer, router_side) -> None:
    bus, statuses, healths = router_side
    await healths.wait_for(is_ready)
    await bus.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="across processes", utt_id="u-1"))
    echoed = await statuses.wait_for(lambda m: m.data.utt_id == "u-1")
    assert isinstance(echoed.data, tts.TtsStatus)
    assert echoed.data.text == "across processes"
    assert echoed.envelope.source == "tts"
    assert echoed.envelope.type == "tts.status"


async def test_killed_service_turns_unhealthy_through_last_will(peer, router_side) -> None:
    _, _, healths = router_side
    await healths.wait_for(is_ready)
    seen = len(healths.messages)
    peer.send_signal(signal.SIGKILL)
    peer.wait(5)
    lost = await healths.wait_for(
        lambda m: m.topic == "system/health/tts" and not m.data.ok, timeout_s=15, since=seen
    )
    assert lost.data.event == "lost"


async def test_graceful_stop_reports_shutdown(peer, router_side) -> None:
    _, _, healths = router_side
    await healths.wait_for(is_ready)
    seen = len(healths.messages)
    peer.send_signal(signal.SIGTERM)
    assert peer.wait(10) == 0
    stopped = await healths.wait_for(
        lambda m: m.topic == "system/health/tts" and not m.data.ok, since=seen
    )
    assert stopped.data.event == "shutdown"


async def test_invalid_payloads_are_rejected_and_counted_by_the_service(
    any_broker: BrokerUnderTest, peer, router_side
) -> None:
    bus, statuses, healths = router_side
    await healths.wait_for(is_ready)
    snapshots = Collector()
    watcher = any_broker.bus("ui", health=False)
    watcher.subscribe(metrics.metrics_topic("tts"), snapshots)
    bad_payloads = [
        b'{"id": "x", "type": ',  # malformed JSON
        b'{"id":"b1","type":"tts.say","ts":1,"source":"t","data":{"text":5}}',  # wrong type
        b'{"id":"b2","type":"tts.say","ts":1,"source":"t","data":{"text":"a","pitch":3}}',
        b'{"id":"b3","type":"llm.request","ts":1,"source":"t","data":{"id":"r","text":"hi"}}',
    ]
    async with running(watcher):
        for payload in bad_payloads:
            await bus.publish_raw(tts.TOPIC_TTS_SAY, payload, qos=1)
        await bus.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="still alive", utt_id="u-ok"))
        await statuses.wait_for(lambda m: m.data.utt_id == "u-ok")
        snapshot = await snapshots.wait_for(lambda m: m.data.counters.get("rejected", 0) >= 4)
    assert snapshot.data.counters["rejected"] == 4
    assert snapshot.data.counters["rejected.invalid_json"] == 1
    assert snapshot.data.counters["rejected.invalid_payload"] == 3
    peer.terminate()
    _, stderr = peer.communicate(timeout=10)
    peer.stderr = None  # already drained; the fixture must not read it again
    assert stderr.decode().count("rejected message") == 4


async def test_slow_handler_does_not_block_another_topic(any_broker: BrokerUnderTest) -> None:
    service = any_broker.bus("tts")
    sender = any_broker.bus("router")
    release, fast_seen = asyncio.Event(), asyncio.Event()

    async def slow(_: Message) -> None:
        await release.wait()

    async def fast(_: Message) -> None:
        fast_seen.set()

    service.subscribe(tts.TOPIC_TTS_SAY, slow)
    service.subscribe(tts.TOPIC_TTS_CONTROL, fast)
    async with running(service, sender):
        await sender.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="blocks for a while"))
        await sender.publish(tts.TOPIC_TTS_CONTROL, tts.TtsControl(action="stop"))
        await asyncio.wait_for(fast_seen.wait(), 5)
        assert not release.is_set()
        release.set()


async def test_a_control_message_overtakes_the_backlog_of_a_stopped_service(
    peer, router_side
) -> None:
    """The peer is frozen (SIGSTOP) while 2,000 says and then a control queue up for it.

    Thawed, it handles the control (a priority subscription: its own connection) before it
    has read even half of the says that were sent before it.
    """
    bus, statuses, healths = router_side
    # This peer's own "ready" (a retained ok health may be an earlier test's bus).
    await healths.wait_for(lambda m: is_ready(m) and m.data.event == "ready" and not m.retained)
    says = [tts.TtsSay(text="queued", utt_id=f"q-{index}") for index in range(2000)]
    peer.send_signal(signal.SIGSTOP)
    try:
        for start in range(0, len(says), 200):
            await asyncio.gather(
                *(bus.publish(tts.TOPIC_TTS_SAY, say) for say in says[start : start + 200])
            )
        await bus.publish(tts.TOPIC_TTS_CONTROL, tts.TtsControl(action="stop", id="ctl-1"))
    finally:
        peer.send_signal(signal.SIGCONT)
    seen = len(statuses.messages)
    # Every say was read and answered (the backlog was real and is worked off)...
    await statuses.wait_for(lambda m: m.data.utt_id == "q-1999", timeout_s=60, since=seen)
    stopped = statuses.matching(lambda m: m.data.utt_id == "ctl-1")
    # ...and the control was handled when most of them had not even been read.
    assert [m.data.event for m in stopped] == ["stopped"]
    assert int(stopped[0].data.text) < 1000


async def test_subscriptions_to_one_topic_each_get_every_message(
    any_broker: BrokerUnderTest,
) -> None:
    """Same filter twice on one connection (JSON and raw), and once more on the other one.

    The broker keeps one subscription per filter and connection: each local subscription
    must still get every message, once.
    """
    service, sender = any_broker.bus("tts"), any_broker.bus("router")
    control_json, control_main = Collector(), Collector()
    raw_ids: list[str] = []

    async def on_raw(message: RawMessage) -> None:
        raw_ids.append(orjson.loads(message.payload)["data"]["id"])

    service.subscribe(tts.TOPIC_TTS_CONTROL, control_json, priority=True)
    service.subscribe_raw(tts.TOPIC_TTS_CONTROL, on_raw, qos=1, priority=True)
    service.subscribe(tts.TOPIC_TTS_CONTROL, control_main)
    async with running(service, sender):
        for index in range(3):
            control = tts.TtsControl(action="stop", id=f"c{index}")
            await sender.publish(tts.TOPIC_TTS_CONTROL, control)
        for collector in (control_json, control_main):
            await collector.wait_for(lambda m: m.data.id == "c2")
    assert [m.data.id for m in control_json.messages] == ["c0", "c1", "c2"]
    assert [m.data.id for m in control_main.messages] == ["c0", "c1", "c2"]
    # Each message is queued for the raw handler before the JSON one on its connection.
    assert raw_ids == ["c0", "c1", "c2"]


async def test_anonymous_client_is_refused(mqtt_broker: TestBroker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", mqtt_broker.config.port, timeout=5):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", mqtt_broker.config.port, username="tts", password="wrong", timeout=5
        ):
            pass


async def test_publishing_outside_the_acl_is_refused(mqtt_broker: TestBroker) -> None:
    listener = mqtt_broker.bus("llm")
    requests = Collector()
    listener.subscribe(llm.TOPIC_LLM_REQUEST, requests)
    intruder = mqtt_broker.bus("tts")  # tts may not publish llm/request
    allowed = mqtt_broker.bus("router")
    async with running(listener, intruder, allowed):
        await intruder.publish(llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id="evil", text="x"))
        await allowed.publish(llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id="fine", text="y"))
        await requests.wait_for(lambda m: m.data.id == "fine")
        await asyncio.sleep(0.3)
    assert [m.data.id for m in requests.messages] == ["fine"]


async def test_broker_restart_reconnects_resubscribes_and_republishes_health(
    make_broker: MakeBroker, tmp_path: Path
) -> None:
    broker = make_broker(tmp_path / "restart")
    broker.start()
    peer_process = start_peer(broker)
    bus = broker.bus("router")
    statuses, healths = Collector(), Collector()
    bus.subscribe(tts.TOPIC_TTS_STATUS, statuses)
    bus.subscribe(health.HEALTH_PATTERN, healths)
    try:
        async with running(bus):
            await healths.wait_for(is_ready)
            await bus.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="before", utt_id="b"))
            await statuses.wait_for(lambda m: m.data.utt_id == "b")

            # Crash it: SIGKILL, not a clean shutdown.
            broker.process.kill()
            await asyncio.sleep(1.0)
            restarted_at = time.time()
            # A QoS 1 publish during the outage waits for the connection, then goes out.
            during = asyncio.create_task(
                bus.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="during", utt_id="d")),
                name="publish-during-outage",
            )
            await asyncio.sleep(0.5)
            broker.start()

            fresh = await healths.wait_for(
                lambda m: is_ready(m) and m.data.timestamp > restarted_at, timeout_s=20
            )
            assert fresh.data.ok
            await asyncio.wait_for(during, 20)
            await bus.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="after", utt_id="a"))
            await statuses.wait_for(lambda m: m.data.utt_id == "a", timeout_s=20)
            # The control connection (no Last-Will, its own loop) is back and subscribed too.
            # It reconnects on its own schedule and every connection starts a clean session,
            # so a stop sent before it resubscribed is not delivered: ask again.
            await _control_answered(bus, statuses, "c-a", attempts=10)
            # The "during" message reached the broker; whether tts gets it depends on tts
            # having resubscribed first: every connection starts a clean session.
            assert bus.metrics.count("disconnects") >= 1
    finally:
        stop_peer(peer_process)
        broker.stop()


async def test_a_one_megabyte_say_is_refused_and_the_service_keeps_answering(
    make_broker: MakeBroker, tmp_path: Path
) -> None:
    # A broker of its own: the session broker holds other tests' persistent sessions.
    broker = make_broker(tmp_path / "huge")
    broker.start()
    peer_process = start_peer(broker)
    bus, watcher = broker.bus("router"), broker.bus("ui", health=False)
    statuses, healths, snapshots = Collector(), Collector(), Collector()
    bus.subscribe(tts.TOPIC_TTS_STATUS, statuses)
    bus.subscribe(health.HEALTH_PATTERN, healths)
    watcher.subscribe(metrics.metrics_topic("tts"), snapshots)
    huge = b'{"id":"h1","type":"tts.say","ts":1,"source":"t","data":{"text":"' + b"a" * 1_000_000
    try:
        async with running(bus, watcher):
            await healths.wait_for(is_ready, timeout_s=20)
            await bus.publish_raw(tts.TOPIC_TTS_SAY, huge + b'"}}', qos=1)
            await bus.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="right after", utt_id="u-next"))
            # Generous limits: a megabyte through the broker on a loaded 2-core machine.
            await statuses.wait_for(lambda m: m.data.utt_id == "u-next", timeout_s=20)
            snapshot = await snapshots.wait_for(
                lambda m: m.data.counters.get("rejected.too_large", 0) >= 1, timeout_s=20
            )
        assert snapshot.data.counters["rejected"] == 1
        peer_process.terminate()
        _, stderr = peer_process.communicate(timeout=10)
    finally:
        stop_peer(peer_process)
        broker.stop()
    refusals = [line for line in stderr.decode().splitlines() if "rejected message" in line]
    assert len(refusals) == 1
    assert "1000" in refusals[0]  # the size...
    assert len(refusals[0]) < 1000  # ...and only a short excerpt


async def _control_answered(bus: MqttBus, statuses: Collector, utt_id: str, attempts: int) -> None:
    """Send a stop until the peer's control connection answers it (2 s per try)."""
    for _ in range(attempts):
        await bus.publish(tts.TOPIC_TTS_CONTROL, tts.TtsControl(action="stop", id=utt_id))
        try:
            await statuses.wait_for(lambda m: m.data.utt_id == utt_id, timeout_s=2)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"the control connection never answered in {attempts} tries")
