"""The llm service through a real Mosquitto against a real local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.support.broker import TestBroker
from tests.support.llm_rig import http_settings, llm_running, of
from tests.support.openai_server import OpenAIServer, Reply, text_stream

from tars.contracts.llm import TOPIC_LLM_CANCEL, LLMCancel

pytestmark = pytest.mark.broker


async def test_deltas_stream_in_order_then_the_full_response(mqtt_broker: TestBroker) -> None:
    server = OpenAIServer([text_stream(["Hel", "lo", " there."], delay_s=0.02)])
    async with server, llm_running(mqtt_broker, http_settings(server)) as (_, client):
        request_id = await client.ask("Say hello", satellite="kitchen")
        response = await client.response(request_id)
    deltas = [m.data for m in of(client.deltas, request_id)]
    assert [d.seq for d in deltas] == [1, 2, 3, 4]
    assert [d.delta for d in deltas[:3]] == ["Hel", "lo", " there."]
    assert deltas[-1].done
    assert deltas[-1].delta is None
    assert not any(d.done for d in deltas[:3])
    assert response.data.reply == "Hello there."
    assert response.data.error is None
    assert (response.data.provider, response.data.model) == ("openai", "test-model")
    assert response.data.tokens == {"prompt": 11, "completion": 3, "total": 14}
    assert response.data.satellite == "kitchen"
    body = server.requests[0].body
    assert body["messages"][0]["role"] == "system"
    assert "TARS" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "Say hello"}


async def test_cancel_mid_stream_closes_the_connection_and_stops_deltas(
    mqtt_broker: TestBroker,
) -> None:
    pieces = [f"word{i} " for i in range(200)]
    server = OpenAIServer([text_stream(pieces, delay_s=0.03)])
    async with server, llm_running(mqtt_broker, http_settings(server)) as (_, client):
        request_id = await client.ask("Talk for a long time")
        await client.deltas.wait_for(lambda m: m.data.id == request_id and m.data.seq >= 3)
        await client.bus.publish(TOPIC_LLM_CANCEL, LLMCancel(id=request_id, reason="barge-in"))
        response = await client.response(request_id)
        await asyncio.wait_for(server.requests[0].closed_early.wait(), 5)
        seen_at_response = len(of(client.deltas, request_id))
        await asyncio.sleep(0.5)  # anything still flowing would show up now
        deltas = [m.data for m in of(client.deltas, request_id)]
    assert response.data.error_code == "cancelled"
    assert response.data.reply is None
    assert len(deltas) == seen_at_response
    assert len(deltas) < len(pieces)
    assert not any(d.done for d in deltas)
    assert not server.requests[0].completed.is_set()
    print(f"\ncancel: {len(deltas)} of {len(pieces)} deltas were sent before the cancel")


async def test_a_stalled_server_hits_the_read_timeout(mqtt_broker: TestBroker) -> None:
    stalled = text_stream(["Hmm"], stall_after=1)
    async with OpenAIServer([stalled]) as server:
        settings = http_settings(server, read_timeout_s=0.5)
        async with llm_running(mqtt_broker, settings) as (_, client):
            started = time.monotonic()
            request_id = await client.ask("Think hard")
            response = await client.response(request_id)
            elapsed = time.monotonic() - started
    assert response.data.error_code == "timeout"
    assert response.data.error
    assert response.data.reply is None
    print(f"\nstall detected after {elapsed:.2f} s (read timeout 0.5 s)")


async def test_http_errors_become_error_responses(mqtt_broker: TestBroker) -> None:
    failing = Reply(status=503, json_body={"error": {"message": "overloaded"}})
    server = OpenAIServer([failing])
    async with server, llm_running(mqtt_broker, http_settings(server)) as (_, client):
        response = await client.response(await client.ask("Hello?"))
    assert response.data.error_code == "http_status"
    assert "overloaded" in (response.data.error or "")


async def test_three_requests_in_flight_all_answer(mqtt_broker: TestBroker) -> None:
    slow = text_stream(["one ", "two ", "three"], delay_s=0.3)
    server = OpenAIServer(default=slow)
    # The settings are built once the server is listening (its port is known then).
    async with (
        server,
        llm_running(mqtt_broker, http_settings(server, max_concurrent=3)) as (
            _,
            client,
        ),
    ):
        ids = [await client.ask(f"question {n}") for n in range(3)]
        await client.responses.wait_for(lambda m: m.data.id in ids)
        requests_before_first_answer = len(server.requests)
        responses = [await client.response(i) for i in ids]
    # All three reached the server before any finished: they ran concurrently.
    assert requests_before_first_answer == 3
    assert [r.data.reply for r in responses] == ["one two three"] * 3
    for request_id in ids:
        assert [d.data.seq for d in of(client.deltas, request_id)] == [1, 2, 3, 4]


async def test_rag_without_a_memory_service_times_out_and_still_answers(
    mqtt_broker: TestBroker,
) -> None:
    async with OpenAIServer([text_stream(["Fine."])]) as server:
        settings = http_settings(server, rag_timeout_s=0.3)
        async with llm_running(mqtt_broker, settings) as (llm, client):
            response = await client.response(await client.ask("Remember?", use_rag=True))
            timeouts = llm.bus.metrics.count("rag_timeouts")
    assert response.data.reply == "Fine."
    assert timeouts == 1
    assert "Retrieved memories" not in server.requests[0].body["messages"][0]["content"]
