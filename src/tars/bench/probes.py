"""Ask every service of a running stack one real question and time its answer.

"Alive" is a process that still runs; "answering" is a service that still does its job.
Each probe sends the request its service serves and waits for the reply that names it:
router a typed turn, memory a query, character/get, camera a capture, movement a command,
tts a sentence for a remote satellite, llm a request, mcp a tool call. stt, wake and the
dashboards serve audio and pages rather than requests: their probe is a fresh healthy
heartbeat, which their event loop publishes only while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tars.bench.flood import Seen
from tars.bench.upstack import UpStack
from tars.commands.ask import ask, watch_turn
from tars.contracts import camera, character, llm, memory, tools, tts
from tars.contracts import movement as mv
from tars.contracts.base import new_id
from tars.runtime.bus import Message

_WATCHED = (
    tts.TOPIC_TTS_STATUS, llm.TOPIC_LLM_RESPONSE, tools.TOPIC_TOOL_CALL_RESULT,
    mv.TOPIC_MOVEMENT_STATUS, mv.TOPIC_MOVEMENT_TEST,
)  # fmt: skip
_REPLIES = (
    memory.TOPIC_MEMORY_RESULTS,
    character.TOPIC_CHARACTER_RESULT,
    camera.TOPIC_CAMERA_IMAGE,
)
HEARTBEAT_ONLY = ("stt", "wake", "ui-web", "ui", "mic")
"""Services probed by a fresh heartbeat only."""


class Prober:
    """Two client buses (``cli`` and ``llm``) and what they saw."""

    def __init__(self, stack: UpStack) -> None:
        self.stack = stack
        self.cli = stack.bus("cli")
        self.llm = stack.bus("llm")
        self.seen = Seen()
        for topic in _WATCHED:
            self.cli.subscribe(topic, self.seen)
        for topic in _REPLIES:
            self.cli.expect_replies(topic)
        self._turn_id = new_id()
        self._turn = watch_turn(self.cli, self._turn_id)

    async def _until(self, predicate: Callable[[Message], bool], timeout_s: float) -> None:
        await self.seen.wait(predicate, timeout_s)

    async def router(self, timeout_s: float) -> None:
        """A typed turn the router answers by rule."""
        turn = await ask(
            self.cli, self._turn, "what time is it", self._turn_id, timeout_s=timeout_s
        )
        if turn.route != "rule":
            raise AssertionError(f"router answered {turn.route}: {turn.reply!r}")

    async def memory(self, timeout_s: float) -> None:
        """A memory query."""
        query = memory.MemoryQuery(text="probe", top_k=1)
        await self.cli.request(
            memory.TOPIC_MEMORY_QUERY, query, reply_topic=memory.TOPIC_MEMORY_RESULTS,
            timeout_s=timeout_s,
        )  # fmt: skip
        await self.cli.request(
            character.TOPIC_CHARACTER_GET, character.CharacterGetRequest(),
            reply_topic=character.TOPIC_CHARACTER_RESULT, timeout_s=timeout_s,
        )  # fmt: skip

    async def camera(self, timeout_s: float) -> None:
        """A capture."""
        reply = await self.cli.request(
            camera.TOPIC_CAMERA_CAPTURE, camera.CameraCaptureRequest(width=64, height=48),
            reply_topic=camera.TOPIC_CAMERA_IMAGE, timeout_s=timeout_s,
        )  # fmt: skip
        if not reply.data.success:
            raise AssertionError(f"camera capture failed: {reply.data.error}")

    async def movement(self, timeout_s: float) -> None:
        """A command: forwarded to the controller or refused with a status naming it."""
        ident = f"probe-{new_id()[:8]}"
        await self.cli.publish(
            mv.TOPIC_MOVEMENT_COMMAND, mv.MovementCommand(id=ident, command="wave")
        )
        await self._until(lambda m: getattr(m.data, "request_id", None) == ident, timeout_s)

    async def tts(self, timeout_s: float) -> None:
        """A sentence for a remote satellite: spoken from start to end."""
        utt = f"probe-{new_id()[:8]}"
        say = tts.TtsSay(text="Probe.", utt_id=utt, satellite="probe")
        await self.cli.publish(tts.TOPIC_TTS_SAY, say)
        await self._until(
            lambda m: m.topic == tts.TOPIC_TTS_STATUS and m.data.utt_id == utt
            and m.data.event == "speaking_end",
            timeout_s,
        )  # fmt: skip

    async def llm_service(self, timeout_s: float) -> None:
        """A request: any response (an answer or a reported provider error) proves it works."""
        ident = f"probe-{new_id()[:8]}"
        await self.cli.publish(
            llm.TOPIC_LLM_REQUEST, llm.LLMRequest(id=ident, text="hi", stream=False)
        )
        await self._until(
            lambda m: m.topic == llm.TOPIC_LLM_RESPONSE and m.data.id == ident, timeout_s
        )

    async def mcp(self, timeout_s: float) -> None:
        """A built-in tool call (the character's traits)."""
        call = tools.ToolCallRequest(
            call_id=f"probe-{new_id()[:8]}", name="mcp__character__get_traits", arguments={}
        )
        await self.llm.publish(tools.TOPIC_TOOL_CALL_REQUEST, call)
        await self._until(
            lambda m: m.topic == tools.TOPIC_TOOL_CALL_RESULT and m.data.call_id == call.call_id,
            timeout_s,
        )

    async def heartbeat(self, service: str, timeout_s: float) -> None:
        """A healthy status sent from now on."""
        now = time.time()
        await self.stack.health.wait_for(
            lambda e: e.service == service and e.ok and e.sent_at >= now, timeout_s
        )

    def probe_for(self, service: str) -> Callable[[float], Awaitable[None]]:
        """The probe of ``service``."""
        named: dict[str, Callable[[float], Awaitable[None]]] = {
            "router": self.router, "memory": self.memory, "camera": self.camera,
            "movement": self.movement, "tts": self.tts, "llm": self.llm_service, "mcp": self.mcp,
        }  # fmt: skip
        if service in named:
            return named[service]

        async def beat(timeout_s: float) -> None:
            await self.heartbeat(service, timeout_s)

        return beat


@contextlib.asynccontextmanager
async def prober(stack: UpStack) -> AsyncIterator[Prober]:
    """A connected :class:`Prober` for the duration of the block."""
    probe = Prober(stack)
    tasks = [
        asyncio.create_task(probe.cli.run(), name="probe:cli"),
        asyncio.create_task(probe.llm.run(), name="probe:llm"),
    ]
    try:
        await asyncio.wait_for(probe.cli.wait_connected(), 10)
        await asyncio.wait_for(probe.llm.wait_connected(), 10)
        yield probe
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def probe_all(stack: UpStack, timeout_s: float) -> dict[str, float]:
    """Probe every service of ``stack`` at once; seconds to each answer.

    Raises:
        TimeoutError: a service did not answer within ``timeout_s``.
    """
    async with prober(stack) as probe:

        async def timed(service: str) -> tuple[str, float]:
            began = time.monotonic()
            await probe.probe_for(service)(timeout_s)
            return service, round(time.monotonic() - began, 3)

        answers: list[Any] = await asyncio.gather(*(timed(s) for s in stack.services))
    return dict(answers)
