"""The memory service on the in-memory bus with the hashing embedder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.collect import Collector

from tars.contracts.character import (
    TOPIC_CHARACTER_CURRENT,
    TOPIC_CHARACTER_GET,
    TOPIC_CHARACTER_RESULT,
    TOPIC_CHARACTER_UPDATE,
    CharacterGetRequest,
    CharacterResetTraits,
    CharacterSnapshot,
    CharacterTraitUpdate,
)
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, ConversationTurn
from tars.contracts.memory import (
    TOPIC_MEMORY_QUERY,
    TOPIC_MEMORY_REMEMBER,
    TOPIC_MEMORY_RESULTS,
    MemoryFact,
    MemoryQuery,
)
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.runtime.settings import RuntimeSettings
from tars.services.memory.embedder import HashingEmbedder
from tars.services.memory.records import MemoryQuery as EngineQuery
from tars.services.memory.service import MemoryService, build
from tars.services.memory.settings import MemorySettings
from tars.services.memory.store import MemoryStore


@contextlib.asynccontextmanager
async def running(
    data_dir: Path, **settings: object
) -> AsyncIterator[tuple[MemoryService, MemoryBus, Collector, Collector]]:
    broker = MemoryBroker()
    service = MemoryService(
        MemorySettings(**settings),  # type: ignore[arg-type]
        data_dir,
        embedder=HashingEmbedder(),
    )
    client = MemoryBus("router", broker)
    client.expect_replies(TOPIC_MEMORY_RESULTS)
    current, results = Collector(), Collector()
    client.subscribe(TOPIC_CHARACTER_CURRENT, current)
    client.subscribe(TOPIC_CHARACTER_RESULT, results)
    client_task = asyncio.create_task(client.run(), name="test:client")
    await client.wait_connected()
    stop = asyncio.Event()
    service_bus = MemoryBus("memory", broker)
    task = asyncio.create_task(serve(service, service_bus, stop), name="test:memory")
    try:
        await current.wait_for(lambda m: True)  # published once the stores are open
        yield service, client, current, results
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)


def turn(n: int, user: str, reply: str) -> ConversationTurn:
    return ConversationTurn(id=f"t{n}", satellite="kitchen", user_text=user, reply=reply)


async def test_turns_are_queryable_and_results_echo_the_query_id(tmp_path: Path) -> None:
    async with running(tmp_path, flush_interval_ms=60_000) as (service, client, _, _):
        await client.publish(TOPIC_CONVERSATION_TURN, turn(1, "my bike is red", "Red bike, ok."))
        await client.publish(TOPIC_CONVERSATION_TURN, turn(2, "it is sunny", "Enjoy the sun."))
        await asyncio.sleep(0.05)
        answer = await client.request(
            TOPIC_MEMORY_QUERY,
            MemoryQuery(text="what colour is my bike", top_k=1),
            reply_topic=TOPIC_MEMORY_RESULTS,
            timeout_s=5,
        )
        assert service.bus.metrics.count("turns_stored") == 2
    assert answer.data.k == 1
    assert answer.data.results[0].document == {
        "user": "my bike is red",
        "reply": "Red bike, ok.",
        "satellite": "kitchen",
        "kind": "turn",
    }
    assert answer.data.total_tokens == answer.data.results[0].token_count


async def test_facts_come_back_as_text(tmp_path: Path) -> None:
    async with running(tmp_path) as (_, client, _, _):
        await client.publish(TOPIC_MEMORY_REMEMBER, MemoryFact(text="my sister is Ana"))
        await asyncio.sleep(0.1)
        answer = await client.request(
            TOPIC_MEMORY_QUERY,
            MemoryQuery(text="sister Ana", top_k=3, satellite="kitchen"),
            reply_topic=TOPIC_MEMORY_RESULTS,
            timeout_s=5,
        )
    assert answer.data.results[0].document == "my sister is Ana"


async def test_buffered_turns_are_flushed_on_shutdown(tmp_path: Path) -> None:
    async with running(tmp_path, flush_interval_ms=60_000) as (service, client, _, _):
        await client.publish(TOPIC_CONVERSATION_TURN, turn(1, "remember the milk", "Milk."))
        await asyncio.sleep(0.05)
        assert service.bus.metrics.count("turns_stored") == 0
    with MemoryStore(tmp_path / "memory.sqlite3", HashingEmbedder()) as store:
        found = store.query(EngineQuery("milk", retrieval_strategy="recent"))
    assert [r.user_text for r in found.results] == ["remember the milk"]


async def test_character_get_update_reset_and_invalid_traits(tmp_path: Path) -> None:
    async with running(tmp_path) as (service, client, current, results):
        whole_id = await client.publish(TOPIC_CHARACTER_GET, CharacterGetRequest())
        whole = await results.wait_for(lambda m: m.envelope.id == whole_id)
        bad_id = await client.publish(TOPIC_CHARACTER_GET, CharacterGetRequest(section="nope"))
        bad = await results.wait_for(lambda m: m.envelope.id == bad_id)
        wrong_id = await client.publish(
            TOPIC_CHARACTER_UPDATE, CharacterTraitUpdate(trait="telepathy", value=50)
        )
        wrong = await results.wait_for(lambda m: m.envelope.id == wrong_id)
        await client.publish(TOPIC_CHARACTER_UPDATE, CharacterTraitUpdate(trait="humor", value=20))
        updated = await current.wait_for(lambda m: m.data.traits["humor"] == 20)
        await client.publish(TOPIC_CHARACTER_UPDATE, CharacterResetTraits(action="reset_traits"))
        reset = await current.wait_for(
            lambda m: m.data.traits["humor"] == 75 and current.messages.index(m) > 0
        )
        assert service.bus.metrics.count("invalid_character_updates") == 1
    assert isinstance(whole.data, CharacterSnapshot)
    assert whole.data.name == "TARS"
    assert bad.data.section == "nope"
    assert bad.data.value is None
    assert bad.data.error
    assert "telepathy" in (wrong.data.error or "")
    assert updated.data.meta["overridden"] == ["humor"]
    assert reset.data.meta["overridden"] == []


def test_build_keeps_memory_under_the_runtime_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MEMORY_DATA_DIR", raising=False)
    assert build(RuntimeSettings(data_dir=tmp_path)).db_path == tmp_path / "memory" / (
        "memory.sqlite3"
    )
    monkeypatch.setenv("MEMORY_DATA_DIR", str(tmp_path / "elsewhere"))
    assert build(RuntimeSettings(data_dir=tmp_path)).db_path == tmp_path / "elsewhere" / (
        "memory.sqlite3"
    )
