"""The llm service on the embedded Qwen model (llama.cpp) through a real broker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.llm_rig import llm_running, of

from tars.contracts.memory import (
    TOPIC_MEMORY_QUERY,
    TOPIC_MEMORY_RESULTS,
    MemoryResult,
    MemoryResults,
)
from tars.runtime.bus import Message
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.localmodel import LocalModel
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]


async def test_capital_of_france_through_the_service(
    mqtt_broker: TestBroker, qwen_model: LocalModel, tmp_path: Path
) -> None:
    provider = EmbeddedProvider(lambda: qwen_model)
    settings = LlmSettings(provider="embedded", temperature=0.0, max_tokens=48, data_dir=tmp_path)
    service = LlmService(settings, provider=provider)
    try:
        async with llm_running(mqtt_broker, settings, service) as (_, client):
            started = time.monotonic()
            request_id = await client.ask("What is the capital of France?")
            first = await client.deltas.wait_for(lambda m: m.data.id == request_id, 120)
            first_s = time.monotonic() - started
            response = await client.response(request_id, timeout_s=120)
            total_s = time.monotonic() - started
    finally:
        await provider.aclose()
    assert response.data.error is None, response.data.error
    assert "Paris" in (response.data.reply or "")
    assert response.data.provider == "embedded"
    assert response.data.tokens is not None
    assert response.data.tokens["completion"] > 0
    deltas = [m.data for m in of(client.deltas, request_id)]
    assert [d.seq for d in deltas] == list(range(1, len(deltas) + 1))
    assert deltas[-1].done
    del first
    print(
        f"\nembedded via the service: first delta {first_s:.2f} s, reply {total_s:.2f} s, "
        f"tokens {response.data.tokens}: {response.data.reply!r}"
    )


async def test_a_retrieved_memory_answers_the_question(
    mqtt_broker: TestBroker, qwen_model: LocalModel, tmp_path: Path
) -> None:
    memory_bus = mqtt_broker.bus("memory", health=False)
    queries: list[str] = []

    async def on_query(message: Message) -> None:
        queries.append(message.data.text)
        memory = MemoryResult(
            document={"user": "My dog is called Biscuit.", "reply": "Biscuit, noted."}
        )
        results = MemoryResults(query=message.data.text, k=1, results=[memory])
        await memory_bus.publish(TOPIC_MEMORY_RESULTS, results, id=message.envelope.id)

    memory_bus.subscribe(TOPIC_MEMORY_QUERY, on_query)
    provider = EmbeddedProvider(lambda: qwen_model)
    settings = LlmSettings(
        provider="embedded", temperature=0.0, max_tokens=48, data_dir=tmp_path, rag_enabled=True
    )
    try:
        async with (
            running(memory_bus),
            llm_running(mqtt_broker, settings, LlmService(settings, provider=provider)) as (
                _,
                client,
            ),
        ):
            started = time.monotonic()
            request_id = await client.ask("What is my dog called?")
            response = await client.response(request_id, timeout_s=120)
            total_s = time.monotonic() - started
    finally:
        await provider.aclose()
    assert queries == ["What is my dog called?"]
    assert response.data.error is None, response.data.error
    assert "Biscuit" in (response.data.reply or "")
    print(f"\nembedded RAG answer in {total_s:.2f} s: {response.data.reply!r}")
