"""A router-side client and an in-process llm service on a test broker, for llm tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tars.contracts.base import new_id
from tars.contracts.health import health_topic
from tars.contracts.llm import (
    TOPIC_LLM_REQUEST,
    TOPIC_LLM_RESPONSE,
    TOPIC_LLM_STREAM,
    LLMRequest,
)
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import serve
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.openai_server import OpenAIServer


def of(collector: Collector, request_id: str) -> list[Message]:
    """Messages of one request."""
    return collector.matching(lambda message: message.data.id == request_id)


class Client:
    """The router's side: sends requests and cancels, collects deltas and responses."""

    def __init__(self, bus: MqttBus) -> None:
        self.bus = bus
        self.deltas = Collector()
        self.responses = Collector()
        self.health = Collector()
        bus.subscribe(TOPIC_LLM_STREAM, self.deltas)
        bus.subscribe(TOPIC_LLM_RESPONSE, self.responses)
        bus.subscribe(health_topic("llm"), self.health)

    async def ask(self, text: str, **fields: object) -> str:
        request_id = new_id()
        await self.bus.publish(TOPIC_LLM_REQUEST, LLMRequest(id=request_id, text=text, **fields))
        return request_id

    async def response(self, request_id: str, timeout_s: float = 10.0) -> Message:
        return await self.responses.wait_for(lambda m: m.data.id == request_id, timeout_s)


@contextlib.asynccontextmanager
async def llm_running(
    broker: TestBroker, settings: LlmSettings, service: LlmService | None = None
) -> AsyncIterator[tuple[LlmService, Client]]:
    """Run an llm service and a router-side client on the broker."""
    llm = service or LlmService(settings)
    client = Client(broker.bus("router"))
    stop = asyncio.Event()
    async with running(client.bus):
        task = asyncio.create_task(
            serve(llm, broker.bus("llm"), stop, heartbeat_s=60, metrics_interval_s=60),
            name="test:llm",
        )
        try:
            await client.health.wait_for(
                lambda m: m.data.ok and m.data.event == "ready" and not m.retained, 120
            )
            yield llm, client
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


def http_settings(server: OpenAIServer, **overrides: object) -> LlmSettings:
    fields: dict[str, object] = {"base_url": server.base_url, "model": "test-model"}
    fields.update(overrides)
    return LlmSettings(**fields)  # type: ignore[arg-type]
