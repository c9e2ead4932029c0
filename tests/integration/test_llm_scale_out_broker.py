"""Scale-out through a real Mosquitto: llm workers in one MQTT v5 shared-subscription group.

Two llm services with the same ``LLM_SHARE_GROUP`` answer from the scripted OpenAI-compatible
server: every request reaches exactly one of them, and ``llm/cancel`` (which every worker
hears) stops the request wherever it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from tests.support.broker import TestBroker, running
from tests.support.llm_rig import Client, http_settings, of
from tests.support.openai_server import OpenAIServer, RecordedRequest, Reply, text_stream
from tests.support.serving import serving

from tars.contracts.llm import TOPIC_LLM_CANCEL, LLMCancel
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.services.llm.service import LlmService

pytestmark = pytest.mark.broker
REQUESTS = 12
GROUP = "llm"


def echo(request: RecordedRequest) -> Reply:
    """Answer each request with its own question, so answers can be matched to requests."""
    return text_stream(["You asked: ", request.user_text])


@contextlib.asynccontextmanager
async def two_workers(
    broker: TestBroker, server: OpenAIServer
) -> AsyncIterator[tuple[MqttBus, MqttBus, Client]]:
    """Two llm workers in one share group and a router-side client, all on the broker."""
    settings = http_settings(server, share_group=GROUP)
    client = Client(broker.bus("router"))
    async with (
        serving(broker, LlmService(settings)) as first,
        serving(broker, LlmService(settings)) as second,
        running(client.bus),
    ):
        yield first, second, client


def last_delta_of(request_id: str) -> Callable[[Message], bool]:
    """Matches the done delta of one request."""
    return lambda message: bool(message.data.id == request_id and message.data.done)


def streaming(request_id: str) -> Callable[[Message], bool]:
    """Matches a delta showing that one request is streaming."""
    return lambda message: bool(message.data.id == request_id and message.data.seq >= 2)


def handled(bus: MqttBus) -> int:
    """Requests a worker took from the group."""
    return bus.metrics.count("requests")


async def test_two_llm_workers_split_requests_each_answered_once(
    mqtt_broker: TestBroker,
) -> None:
    server = OpenAIServer(choose=echo)
    async with server, two_workers(mqtt_broker, server) as (first, second, client):
        ids = {await client.ask(f"question {index}"): index for index in range(REQUESTS)}
        responses = [await client.response(request_id) for request_id in ids]
        # The done deltas travel on another topic: wait for the last one too.
        dones = [await client.deltas.wait_for(last_delta_of(request_id)) for request_id in ids]
        counts = [handled(bus) for bus in (first, second)]
    assert [r.data.reply for r in responses] == [f"You asked: question {i}" for i in ids.values()]
    # Each request reached exactly one worker (one HTTP call, one response), both took a share.
    assert len(server.requests) == REQUESTS
    assert sum(counts) == REQUESTS
    assert min(counts) > 0
    answered = [message.data.id for message in client.responses.messages]
    assert sorted(answered) == sorted(ids)
    assert len(dones) == REQUESTS
    for request_id in ids:
        assert sum(bool(d.data.done) for d in of(client.deltas, request_id)) == 1


async def test_cancel_reaches_the_worker_holding_the_request(mqtt_broker: TestBroker) -> None:
    long_answer = text_stream([f"word{i} " for i in range(200)], delay_s=0.05)
    server = OpenAIServer(default=long_answer)
    async with server, two_workers(mqtt_broker, server) as (first, second, client):
        ids = [await client.ask(f"talk for a long time {index}") for index in range(4)]
        for request_id in ids:  # every request is streaming before it is cancelled
            await client.deltas.wait_for(streaming(request_id))
        counts = [handled(bus) for bus in (first, second)]
        for request_id in ids:
            cancel = LLMCancel(id=request_id, reason="barge-in")
            await client.bus.publish(TOPIC_LLM_CANCEL, cancel)
        responses = [await client.response(request_id) for request_id in ids]
        await asyncio.gather(*(asyncio.wait_for(r.closed_early.wait(), 5) for r in server.requests))
    assert min(counts) > 0  # both workers held requests when the cancels went out
    assert [r.data.error_code for r in responses] == ["cancelled"] * len(ids)
    assert len(server.requests) == len(ids)
    assert not any(r.completed.is_set() for r in server.requests)
    for request_id in ids:
        deltas = of(client.deltas, request_id)
        assert len(deltas) < 200
        assert not any(d.data.done for d in deltas)
