"""The memory service: conversation memory on SQLite and the current character.

* ``conversation/turn`` turns are buffered and written in batches every
  ``MEMORY_FLUSH_INTERVAL_MS`` (and on shutdown); ``memory/remember`` stores a fact.
* ``memory/query`` is answered on ``memory/results`` with the query's envelope id;
  pending turns are flushed first, so a turn is findable as soon as it was received.
* The character is published retained on ``system/character/current`` at start and
  after every change; ``character/get`` answers on ``character/result``;
  ``character/update`` sets or resets traits, persisted across restarts.

Embedding and database work always runs in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from tars.characters.model import CharacterData, CharacterError
from tars.contracts.character import (
    TOPIC_CHARACTER_CURRENT,
    TOPIC_CHARACTER_GET,
    TOPIC_CHARACTER_RESULT,
    TOPIC_CHARACTER_UPDATE,
    CharacterGetRequest,
    CharacterSection,
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
    MemoryResults,
)
from tars.runtime.bus import Bus, Message, shared_topic
from tars.runtime.malloc import release_free_memory
from tars.runtime.settings import RuntimeSettings
from tars.services.memory import wire
from tars.services.memory.character import CharacterStore
from tars.services.memory.embedder import Embedder, create_embedder
from tars.services.memory.records import TurnRecord
from tars.services.memory.settings import MemorySettings
from tars.services.memory.store import MemoryStore

_LOGGER = logging.getLogger(__name__)

_MAX_BUFFERED = 10_000
"""Turns kept in RAM while the database is failing, before the oldest are dropped."""


class MemoryService:
    """Stores turns and facts, answers queries, and serves the character.

    Args:
        settings: The service settings.
        data_dir: Folder for the database and the trait overrides.
        embedder: The embedder; built from the settings in :meth:`run` when None.
    """

    name = "memory"

    def __init__(
        self, settings: MemorySettings, data_dir: Path, *, embedder: Embedder | None = None
    ) -> None:
        self._settings = settings
        self._data_dir = data_dir
        self._embedder = embedder
        self._bus: Bus | None = None
        self._store: MemoryStore | None = None
        self._characters: CharacterStore | None = None
        self._ready = asyncio.Event()
        self._buffer: list[TurnRecord] = []
        self._flush_lock = asyncio.Lock()
        self._writing: asyncio.Task[list[int]] | None = None

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        if self._bus is None:
            raise RuntimeError("attach() the service before running it")
        return self._bus

    @property
    def db_path(self) -> Path:
        """The SQLite file."""
        return self._data_dir / self._settings.db_file

    def attach(self, bus: Bus) -> None:
        """Subscribe to turns, facts, queries and character requests."""
        self._bus = bus
        group = self._settings.share_group
        # Requests and ingest go to one worker of the group; every worker applies a
        # character update, since each keeps the character in memory.
        bus.subscribe(shared_topic(TOPIC_CONVERSATION_TURN, group), self._on_turn)
        bus.subscribe(shared_topic(TOPIC_MEMORY_REMEMBER, group), self._on_fact)
        bus.subscribe(shared_topic(TOPIC_MEMORY_QUERY, group), self._on_query, workers=2)
        bus.subscribe(shared_topic(TOPIC_CHARACTER_GET, group), self._on_character_get)
        bus.subscribe(TOPIC_CHARACTER_UPDATE, self._on_character_update)

    async def run(self) -> None:
        """Open the store, publish the character, then flush turns until shutdown."""
        try:
            await self._open()
            await self._publish_character(self._character_store().snapshot())
            await asyncio.to_thread(release_free_memory)  # what loading the embedder freed
            await self.bus.set_health(True, "ready")
            interval = max(self._settings.flush_interval_ms, 10) / 1000.0
            while True:
                await asyncio.sleep(interval)
                await self.flush()
        finally:
            # Shutdown (or failure): nothing received may be lost.
            if self._store is not None:
                await self._finish_write()
                await self.flush()
                await asyncio.to_thread(self._store.close)

    async def _open(self) -> None:
        started = time.perf_counter()
        settings = self._settings
        if self._embedder is None:
            self._embedder = await asyncio.to_thread(
                create_embedder,
                settings.embedder,
                threads=settings.embedder_threads,
                batch_size=settings.batch_size,
            )
        self._store = await asyncio.to_thread(
            MemoryStore,
            self.db_path,
            self._embedder,
            batch_size=settings.batch_size,
            rrf_k=settings.rrf_k,
        )
        self._characters = await asyncio.to_thread(
            CharacterStore,
            settings.character_name,
            store_path=self._data_dir / settings.character_store_file,
            user_dir=settings.character_dir,
        )
        self._ready.set()
        self.bus.metrics.observe("open_ms", (time.perf_counter() - started) * 1e3)

    def _memory_store(self) -> MemoryStore:
        assert self._store is not None, "used before run() opened the store"
        return self._store

    def _character_store(self) -> CharacterStore:
        assert self._characters is not None, "used before run() opened the store"
        return self._characters

    # -- turns and facts ------------------------------------------------------------------
    async def _finish_write(self) -> None:
        """Wait for a batch write interrupted by shutdown, and report how it ended."""
        writing = self._writing
        if writing is None:
            return
        await asyncio.wait([writing])
        if not writing.cancelled() and writing.exception() is not None:
            self.bus.metrics.inc("flush_errors")
            _LOGGER.error("a batch write failed during shutdown: %s", writing.exception())

    async def flush(self) -> int:
        """Write the buffered turns in one batch; returns how many were written."""
        async with self._flush_lock:
            if not self._buffer or self._store is None:
                return 0
            batch, self._buffer = self._buffer, []
            started = time.perf_counter()
            # The write runs in its own task, shielded: a shutdown arriving mid-write
            # must not abandon a batch the thread is still committing.
            self._writing = asyncio.create_task(
                asyncio.to_thread(self._store.add_turns, batch), name="memory:flush"
            )
            try:
                await asyncio.shield(self._writing)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.bus.metrics.inc("flush_errors")
                _LOGGER.exception("could not store %d turns; keeping them for a retry", len(batch))
                self._buffer = (batch + self._buffer)[-_MAX_BUFFERED:]
                return 0
            self.bus.metrics.observe("flush_ms", (time.perf_counter() - started) * 1e3)
            self.bus.metrics.inc("turns_stored", len(batch))
            return len(batch)

    async def _on_turn(self, message: Message) -> None:
        turn: ConversationTurn = message.data
        if not turn.user_text.strip() and not turn.reply.strip():
            return
        self._buffer.append(wire.turn_record(turn))
        if len(self._buffer) > _MAX_BUFFERED:
            self._buffer.pop(0)
            self.bus.metrics.inc("turns_dropped")

    async def _on_fact(self, message: Message) -> None:
        fact: MemoryFact = message.data
        await self._ready.wait()
        await asyncio.to_thread(self._memory_store().add_fact, fact.text, satellite=fact.satellite)
        self.bus.metrics.inc("facts_stored")

    async def _on_query(self, message: Message) -> None:
        query: MemoryQuery = message.data
        await self._ready.wait()
        await self.flush()
        try:
            request = wire.engine_query(
                query,
                default_top_k=self._settings.top_k,
                default_strategy=self._settings.strategy,
            )
        except ValueError as err:
            self.bus.metrics.inc("invalid_queries")
            _LOGGER.warning("invalid memory query: %s", err)
            answer = MemoryResults(query=query.text, k=query.top_k, results=[])
        else:
            with self.bus.metrics.timer("query_ms"):
                found = await asyncio.to_thread(self._memory_store().query, request)
            answer = wire.bus_results(query, found)
        await self.bus.publish(TOPIC_MEMORY_RESULTS, answer, id=message.envelope.id)

    # -- character ------------------------------------------------------------------------
    async def _publish_character(self, character: CharacterData) -> None:
        await self.bus.publish(TOPIC_CHARACTER_CURRENT, wire.snapshot(character))

    async def _on_character_get(self, message: Message) -> None:
        request: CharacterGetRequest = message.data
        await self._ready.wait()
        store = self._character_store()
        if request.section is None:
            answer: CharacterSnapshot | CharacterSection = wire.snapshot(
                await asyncio.to_thread(store.snapshot)
            )
        else:
            try:
                value = await asyncio.to_thread(store.section, request.section)
                answer = CharacterSection(section=request.section, value=value)
            except CharacterError as err:
                answer = CharacterSection(section=request.section, error=str(err))
        await self.bus.publish(TOPIC_CHARACTER_RESULT, answer, id=message.envelope.id)

    async def _on_character_update(self, message: Message) -> None:
        await self._ready.wait()
        store = self._character_store()
        update = message.data
        try:
            if isinstance(update, CharacterTraitUpdate):
                character = await asyncio.to_thread(store.set_trait, update.trait, update.value)
            else:
                character = await asyncio.to_thread(store.reset_traits)
        except CharacterError as err:
            self.bus.metrics.inc("invalid_character_updates")
            _LOGGER.warning("character update refused: %s", err)
            await self.bus.publish(
                TOPIC_CHARACTER_RESULT,
                CharacterSection(section="traits", error=str(err)),
                id=message.envelope.id,
            )
            return
        await self._publish_character(character)


def build(runtime: RuntimeSettings) -> MemoryService:
    """Build the memory service (data in ``MEMORY_DATA_DIR`` or ``<TARS_DATA_DIR>/memory``)."""
    settings = MemorySettings()
    return MemoryService(settings, settings.resolved_data_dir(runtime.data_dir))
