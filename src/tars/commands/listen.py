"""``tars listen <file.wav>``: one voice turn from a WAV file through an in-process stack.

A private broker is started (unless ``MQTT_URL`` names one); wake, stt, router, tts and
(unless ``--no-llm``) llm run in this process, each on its own bus logged in as itself, and
the file is streamed as the satellite ``listen`` like a microphone would. Wake detections,
transcripts and the reply are printed as they happen, and the spoken reply, which TTS sends
back on ``tts/audio/listen``, is written to a WAV file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from tars.commands.reply_audio import ReplyRecorder
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.health import HEALTH_PATTERN, HEALTH_PREFIX
from tars.contracts.stt import (
    TOPIC_STT_CONTINUATION,
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    TOPIC_STT_REJECTED,
)
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime import broker
from tars.runtime.bus import Bus, Message
from tars.runtime.loop import run as run_loop
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service, serve
from tars.runtime.settings import MqttSettings, RuntimeSettings
from tars.services.mic.service import publish_frames
from tars.services.mic.sources import FileSource, MicError

_LOGGER = logging.getLogger(__name__)

CLIENT = "cli"
"""Broker user of the command's own bus (it may publish audio/+/pcm)."""
SATELLITE = "listen"
"""Satellite id the file is streamed as."""
READY_TIMEOUT_S = 120.0
"""Longest wait for the services to report ready (models load), in seconds."""
ANSWERED_REJECTIONS = frozenset({"wake", "interrupt", "continuation"})
"""Windows where the router answers a rejected utterance ("Sorry, I didn't catch that")."""

Printer = Callable[[str], None]


@contextlib.asynccontextmanager
async def broker_settings() -> AsyncIterator[Callable[[str], MqttSettings]]:
    """Yield a function giving each user's MQTT settings: ``MQTT_URL`` or a private broker."""
    if "MQTT_URL" in os.environ:
        external = MqttSettings()
        yield lambda _user: external
        return
    with tempfile.TemporaryDirectory(prefix="tars-listen-") as directory:
        config = broker.generate(Path(directory) / "broker")
        process = broker.MosquittoProcess(config)
        await asyncio.to_thread(process.start)
        try:
            yield lambda user: MqttSettings(url=SecretStr(config.url(user)))
        finally:
            await asyncio.to_thread(process.stop)


@dataclass
class Observer:
    """Prints wake events and transcripts and tracks service readiness."""

    expected: set[str]
    out: Printer = print
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    failed: str | None = None
    finals: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    """``heard_in`` of each utterance stt rejected."""
    replies: list[str] = field(default_factory=list)
    wakes: int = 0
    last_final: asyncio.Event = field(default_factory=asyncio.Event)
    since: float = field(default_factory=time.time)

    def attach(self, bus: Bus) -> None:
        """Subscribe to what the command prints."""
        bus.subscribe(HEALTH_PATTERN, self._on_health)
        bus.subscribe(TOPIC_WAKE_EVENT, self._on_wake)
        bus.subscribe(TOPIC_STT_PARTIAL, self._on_partial)
        bus.subscribe(TOPIC_STT_FINAL, self._on_final)
        bus.subscribe(TOPIC_STT_REJECTED, self._on_rejected)
        bus.subscribe(TOPIC_STT_CONTINUATION, self._on_continuation)
        bus.subscribe(TOPIC_CONVERSATION_TURN, self._on_turn)

    @property
    def expects_reply(self) -> bool:
        """Whether the router will speak: a final, or a rejection right after a wake word."""
        return bool(self.finals) or any(r in ANSWERED_REJECTIONS for r in self.rejections)

    async def _on_health(self, message: Message) -> None:
        service = message.topic.removeprefix(HEALTH_PREFIX)
        health = message.data
        if service not in self.expected or health.timestamp < self.since - 1.0:
            return  # a retained status from an earlier run
        if not health.ok and health.event == "failed":
            self.failed = f"{service}: {health.err}"
            self.ready.set()
        elif (health.ok and health.event == "ready") or health.event == "model_unavailable":
            if not health.ok:  # the router then says at once that no language model runs
                self.out(f"[{service}] not available: {health.err}")
            self.expected.discard(service)
            if not self.expected:
                self.ready.set()

    async def _on_wake(self, message: Message) -> None:
        event = message.data
        if event.type in ("wake", "interrupt"):
            self.wakes += 1
        confidence = "" if event.confidence is None else f" p={event.confidence:.2f}"
        self.out(f"[wake] {event.type} {event.wake_word or ''}{confidence}".rstrip())

    async def _on_partial(self, message: Message) -> None:
        self.out(f"[partial] {message.data.text}")

    async def _on_rejected(self, message: Message) -> None:
        rejected = message.data
        self.rejections.append(rejected.heard_in)
        self.last_final.set()
        self.out(
            f"[rejected] {rejected.text!r} in the {rejected.heard_in} window: {rejected.reason}"
        )

    async def _on_continuation(self, message: Message) -> None:
        self.out(f"[continues] after {message.data.gap_s:.2f} s of silence")

    async def _on_turn(self, message: Message) -> None:
        turn = message.data
        if turn.satellite == SATELLITE:
            self.replies.append(turn.reply)
            self.out(f"[reply] {turn.reply} ({turn.route})")

    async def _on_final(self, message: Message) -> None:
        final = message.data
        self.finals.append(final.text)
        self.last_final.set()
        self.out(f"[final] {final.text} ({final.transcribe_ms or 0:.0f} ms)")


async def run_listen_stack(
    wav: Path,
    services: Sequence[Service],
    settings_for: Callable[[str], MqttSettings],
    *,
    realtime: bool = True,
    grace_s: float = 3.0,
    out: Printer = print,
    observers: Sequence[Callable[[Bus], None]] = (),
    until: Callable[[Observer], Awaitable[None]] | None = None,
) -> Observer:
    """Run ``services`` in-process, stream ``wav`` as satellite ``listen``, print what happens.

    Args:
        wav: The audio file.
        services: The services to run (wake and stt, plus any conversation services).
        settings_for: MQTT settings per broker user.
        realtime: Stream at microphone pace; False streams as fast as possible.
        grace_s: Time after the file ends for the last final (and replies) to arrive.
        out: Where lines are printed.
        observers: Extra ``attach(bus)`` hooks on the command's own bus (e.g. reply printer).
        until: Awaited after the last final settles, before the stack stops (e.g. until the
            reply has been spoken).
    """
    stop = asyncio.Event()
    observer = Observer({service.name for service in services}, out)
    client = MqttBus(CLIENT, settings_for(CLIENT), health=False)
    observer.attach(client)
    for attach in observers:
        attach(client)
    async with asyncio.TaskGroup() as group:
        client_task = group.create_task(client.run(), name="listen:client")
        await asyncio.wait_for(client.wait_connected(), 10.0)
        runners = [
            group.create_task(
                serve(service, MqttBus(service.name, settings_for(service.name)), stop),
                name=f"listen:{service.name}",
            )
            for service in services
        ]
        try:
            await asyncio.wait_for(observer.ready.wait(), READY_TIMEOUT_S)
            if observer.failed:
                raise RuntimeError(f"service failed to start: {observer.failed}")
            out(f"streaming {wav} as satellite {SATELLITE!r} ...")
            source = FileSource(wav, realtime=realtime, trailing_silence_s=1.0)
            async with source:
                await publish_frames(client, SATELLITE, source)
            await _settle(observer, grace_s)
            if until is not None and observer.expects_reply:
                await until(observer)
        finally:
            stop.set()
            await asyncio.gather(*runners, return_exceptions=True)
            client_task.cancel()
    return observer


async def _settle(observer: Observer, grace_s: float) -> None:
    # Each final restarts the grace period: a slow transcription may still be running.
    while True:
        observer.last_final.clear()
        try:
            await asyncio.wait_for(observer.last_final.wait(), grace_s)
        except TimeoutError:
            return


def listening_services(runtime: RuntimeSettings) -> list[Service]:
    """The wake and stt services as configured by the environment."""
    from tars.services.stt.service import build as build_stt
    from tars.services.wake.service import build as build_wake

    return [build_wake(runtime), build_stt(runtime)]


def conversation_services(runtime: RuntimeSettings, *, with_llm: bool) -> list[Service]:
    """The router and tts services, plus the llm service unless rules alone are wanted."""
    from tars.services.router.service import build as build_router
    from tars.services.tts.service import build as build_tts

    services: list[Service] = [build_router(runtime), build_tts(runtime)]
    if with_llm:
        from tars.services.llm.service import build as build_llm

        services.append(build_llm(runtime))
    return services


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tars listen", description=__doc__.splitlines()[0])
    parser.add_argument("wav", type=Path, help="16-bit WAV file (any rate, mono or stereo)")
    parser.add_argument(
        "--fast", action="store_true", help="stream faster than real time (no pacing)"
    )
    parser.add_argument(
        "--grace", type=float, default=3.0, help="seconds to wait for the last transcript"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("listen-reply.wav"), help="where to write the reply"
    )
    parser.add_argument(
        "--no-llm", action="store_true", help="answer with the router's rules only (no LLM)"
    )
    parser.add_argument(
        "--reply-timeout", type=float, default=90.0, help="seconds to wait for the spoken reply"
    )
    return parser


def run(runtime: RuntimeSettings, args: list[str]) -> int:
    """Entry point of ``tars listen``; returns the exit code."""
    options = _parser().parse_args(args)
    if not options.wav.is_file():
        print(f"tars listen: no such file: {options.wav}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)

    recorder = ReplyRecorder(SATELLITE)

    async def until_spoken(_: Observer) -> None:
        if not await recorder.wait_spoken(options.reply_timeout):
            print("tars listen: no spoken reply arrived in time", file=sys.stderr)

    async def main() -> Observer:
        services = listening_services(runtime) + conversation_services(
            runtime, with_llm=not options.no_llm
        )
        async with broker_settings() as settings_for:
            return await run_listen_stack(
                options.wav,
                services,
                settings_for,
                realtime=not options.fast,
                grace_s=options.grace,
                observers=[recorder.attach],
                until=until_spoken,
            )

    try:
        observer = run_loop(main())
    except (broker.BrokerUnavailable, MicError, RuntimeError, TimeoutError) as err:
        print(f"tars listen: {err}", file=sys.stderr)
        return 1
    except ExceptionGroup as group:
        print(f"tars listen: {group.exceptions[0]}", file=sys.stderr)
        return 1
    print(f"done: {observer.wakes} wake event(s), {len(observer.finals)} transcript(s)")
    if recorder.finished():
        seconds = recorder.write(options.out)
        print(f"reply audio: {options.out} ({seconds:.1f} s)")
    return 0
