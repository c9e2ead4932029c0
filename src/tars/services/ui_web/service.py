"""ui-web service: the browser dashboard and browser satellite, relayed over the bus.

It subscribes to every JSON topic of the contract (the event stream, the conversation,
health, the persona, turns), to microphone audio (for the level meters) and to reply audio
(for pages that play a satellite), and serves the page with uvicorn on the same event loop.
What a page asks for (a typed turn, a trait change, a memory search, microphone frames) is
published here under the ``ui-web`` broker user: the browser never sees broker credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from tars.contracts import character, memory, stt, tts
from tars.contracts.audio import (
    PCM_PATTERN,
    PCM_SAMPLE_RATE,
    PCM_SAMPLE_WIDTH,
    TTS_AUDIO_PATTERN,
    pcm_topic,
    satellite_of,
)
from tars.contracts.base import new_id
from tars.contracts.registry import TOPICS
from tars.runtime.bus import Bus, Message, RawMessage
from tars.runtime.settings import RuntimeSettings
from tars.services.ui_web.access import Access, address, resolve_token, tls_files
from tars.services.ui_web.app import create_app
from tars.services.ui_web.config_view import configuration
from tars.services.ui_web.context import UiContext
from tars.services.ui_web.hub import Hub, HubLimits
from tars.services.ui_web.limits import Microphones
from tars.services.ui_web.settings import UiWebSettings

_LOGGER = logging.getLogger(__name__)
_DEFAULT_REPLY_RATE = 22_050
_SHUTDOWN_S = 5.0
_MAX_SEARCHES = 32


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the TARS runtime owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: any free port).

    Raises:
        OSError: the address cannot be bound (in use, or not this machine's).
    """
    family, kind, proto, _, where = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(where)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class UiWebService:
    """Serves the dashboard and relays what pages ask for onto the bus."""

    name = "ui-web"

    def __init__(self, settings: UiWebSettings, data_dir: Path, *, heartbeat_s: float = 10.0):
        """Configure; nothing listens before :meth:`run`."""
        self.settings = settings
        self._data_dir = data_dir
        self._heartbeat_s = heartbeat_s
        self._bus: Bus | None = None
        self._hub: Hub | None = None
        self._reply_rates: dict[str, int] = {}
        self._token: str | None = None
        self._searches: dict[str, asyncio.Future[memory.MemoryResults]] = {}
        self._https = False
        self.url: str | None = None
        """The page's address once listening (with the token when one is needed)."""
        self.port: int | None = None
        """The port actually bound (useful with ``UI_WEB_PORT=0``)."""
        self.listening = asyncio.Event()
        """Set once the server accepts connections."""

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        if self._bus is None:
            raise RuntimeError("attach() the service before running it")
        return self._bus

    @property
    def hub(self) -> Hub:
        """The dashboard state (after :meth:`attach`)."""
        if self._hub is None:
            raise RuntimeError("attach() the service before running it")
        return self._hub

    def attach(self, bus: Bus) -> None:
        """Subscribe to every JSON topic, microphone audio and reply audio."""
        self._bus = bus
        settings = self.settings
        limits = HubLimits(
            max_clients=settings.max_clients,
            client_queue=settings.client_queue,
            event_history=settings.event_history,
            event_max_bytes=settings.event_max_bytes,
            heartbeat_s=self._heartbeat_s,
        )
        self._hub = Hub(limits, bus.metrics)
        for spec in TOPICS:
            if not spec.binary:
                bus.subscribe(spec.pattern, self._on_message, qos=min(spec.qos, 1))
        bus.subscribe_raw(PCM_PATTERN, self._on_pcm)
        bus.subscribe_raw(TTS_AUDIO_PATTERN, self._on_reply_audio)

    async def run(self) -> None:
        """Listen and serve pages until cancelled.

        Raises:
            OSError: the configured address cannot be bound.
        """
        bus, settings = self.bus, self.settings
        await bus.wait_connected()
        token = resolve_token(settings, self._data_dir)
        tls = tls_files(settings, self._data_dir)
        context = UiContext(
            settings=settings,
            hub=self.hub,
            relay=self,
            access=Access(token, beyond_loopback=settings.beyond_loopback()),
            metrics=bus.metrics,
            configuration=configuration,
            microphones=Microphones(settings.max_satellites),
        )
        try:
            sock = listen(settings.host, settings.port)
        except OSError as err:
            detail = f"cannot listen on {settings.host}:{settings.port}: {err}"
            await bus.set_health(False, "error", detail)
            raise OSError(detail) from err
        self.port = int(sock.getsockname()[1])
        self._token, self._https = token, tls is not None
        self.url = address(
            settings.model_copy(update={"port": self.port}), token, https=self._https
        )
        config = uvicorn.Config(
            create_app(context),
            ws="websockets-sansio",
            ws_max_size=settings.max_ws_message_bytes,
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=2,
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )
        await self._serve(_Server(config), sock)

    async def _serve(self, server: _Server, sock: socket.socket) -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]), name="ui-web:http")
        shown = address(
            self.settings.model_copy(update={"port": self.port}), None, https=self._https
        )
        _LOGGER.info("web UI at %s%s", shown, " (token required)" if self._token else "")
        self.listening.set()
        await self.bus.set_health(True, "ready")
        try:
            await asyncio.wait({task})
            task.result()
        finally:
            if not task.done():
                server.should_exit = True
                await asyncio.wait({task}, timeout=_SHUTDOWN_S)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            sock.close()

    # -- bus input ---------------------------------------------------------------------------
    async def _on_message(self, message: Message) -> None:
        envelope = message.envelope
        self.hub.on_message(message.topic, envelope.data, ts=envelope.ts, source=envelope.source)
        data = envelope.data
        if isinstance(data, memory.MemoryResults):
            waiting = self._searches.get(envelope.id)
            if waiting is not None and not waiting.done():
                waiting.set_result(data)
        if isinstance(data, tts.TtsStatus) and data.sample_rate and data.satellite:
            self._reply_rates[data.satellite] = data.sample_rate

    async def _on_pcm(self, message: RawMessage) -> None:
        satellite = satellite_of(message.topic)
        if satellite is not None:
            self.hub.on_pcm(satellite, message.payload)

    async def _on_reply_audio(self, message: RawMessage) -> None:
        satellite = satellite_of(message.topic)
        if satellite is None:
            return
        rate_text = message.properties.get("rate", "")
        rate = int(rate_text) if rate_text.isdigit() else 0
        if not 8000 <= rate <= 96_000:
            rate = self._reply_rates.get(satellite, _DEFAULT_REPLY_RATE)
        self.hub.on_reply_audio(satellite, message.payload, rate)

    # -- relay (what pages ask for) ----------------------------------------------------------
    async def say(self, text: str, satellite: str) -> str:
        """Publish ``text`` as a typed final transcript (no wake word needed)."""
        utt_id = new_id()
        final = stt.FinalTranscript(text=text, utt_id=utt_id, satellite=satellite, source="text")
        await self.bus.publish(stt.TOPIC_STT_FINAL, final)
        return utt_id

    async def search_memory(self, text: str, top_k: int) -> dict[str, Any]:
        """Query the memory service and wait for its results (same envelope id).

        Raises:
            TimeoutError: memory did not answer within ``UI_WEB_MEMORY_TIMEOUT_S``.
        """
        # Not bus.request: this service also receives its own memory/query (it watches
        # every topic), which carries the same id; only memory/results may answer.
        if len(self._searches) >= _MAX_SEARCHES:
            raise TimeoutError("too many memory searches in flight")
        query_id = new_id()
        answer: asyncio.Future[memory.MemoryResults] = asyncio.get_running_loop().create_future()
        self._searches[query_id] = answer
        try:
            query = memory.MemoryQuery(text=text, top_k=top_k)
            await self.bus.publish(memory.TOPIC_MEMORY_QUERY, query, id=query_id)
            results = await asyncio.wait_for(answer, self.settings.memory_timeout_s)
        finally:
            self._searches.pop(query_id, None)
        found: dict[str, Any] = results.model_dump(mode="json")
        return found

    async def set_trait(self, trait: str, value: int) -> None:
        """Ask memory to change a trait (it republishes the retained character)."""
        update = character.CharacterTraitUpdate(trait=trait, value=value)
        await self.bus.publish(character.TOPIC_CHARACTER_UPDATE, update)

    async def reset_traits(self) -> None:
        """Ask memory to restore the character file's traits."""
        reset = character.CharacterResetTraits(action="reset_traits")
        await self.bus.publish(character.TOPIC_CHARACTER_UPDATE, reset)

    async def audio(self, satellite: str, pcm: bytes, seq: int) -> None:
        """Publish one browser microphone frame like any satellite's microphone."""
        seconds = len(pcm) / (PCM_SAMPLE_RATE * PCM_SAMPLE_WIDTH)
        properties = {
            "seq": str(seq),
            "ts": f"{time.time() - seconds:.6f}",
            "rate": str(PCM_SAMPLE_RATE),
        }
        await self.bus.publish_raw(pcm_topic(satellite), pcm, properties=properties, qos=0)


def build(runtime: RuntimeSettings) -> UiWebService:
    """Build the web UI from ``UI_WEB_*`` settings."""
    return UiWebService(UiWebSettings(), runtime.data_dir, heartbeat_s=runtime.heartbeat_s)
