"""``tars ask "text"``: one typed turn through the running stack; prints the spoken reply.

The text is published as a final transcript from the ``cli`` satellite with ``source="text"``
(typed text needs no wake word), and the command waits for the router's finished
``conversation/turn`` for that utterance.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from tars.commands.reply_audio import ReplyRecorder
from tars.contracts.base import new_id
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, ConversationTurn
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.runtime.bus import Bus, Message
from tars.runtime.connect import mqtt_settings_for
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import RuntimeSettings

CLI_SATELLITE = "cli"


class NoAnswer(TimeoutError):
    """No finished turn arrived in time (the router, or the stack, is not running)."""


def watch_turn(bus: Bus, utt_id: str) -> asyncio.Future[ConversationTurn]:
    """Subscribe (before the bus runs) to the finished turn of ``utt_id``."""
    future: asyncio.Future[ConversationTurn] = asyncio.get_running_loop().create_future()

    async def on_turn(message: Message) -> None:
        turn: ConversationTurn = message.data
        if turn.id == utt_id and not future.done():
            future.set_result(turn)

    bus.subscribe(TOPIC_CONVERSATION_TURN, on_turn)
    return future


async def ask(
    bus: Bus,
    answer: asyncio.Future[ConversationTurn],
    text: str,
    utt_id: str,
    *,
    satellite: str = CLI_SATELLITE,
    timeout_s: float = 60.0,
) -> ConversationTurn:
    """Publish ``text`` as a typed final transcript and wait for its turn.

    Raises:
        NoAnswer: no turn within ``timeout_s`` seconds.
    """
    final = FinalTranscript(text=text, utt_id=utt_id, satellite=satellite, source="text")
    await bus.publish(TOPIC_STT_FINAL, final)
    try:
        return await asyncio.wait_for(answer, timeout_s)
    except TimeoutError as err:
        raise NoAnswer(f"no answer within {timeout_s:.0f} s") from err


async def _ask_stack(
    runtime: RuntimeSettings, text: str, timeout_s: float, speak_to: Path | None
) -> ConversationTurn:
    bus = MqttBus("cli", mqtt_settings_for("cli", runtime), health=False)
    utt_id = new_id()
    answer = watch_turn(bus, utt_id)
    recorder = ReplyRecorder(CLI_SATELLITE)
    if speak_to is not None:
        recorder.attach(bus)
    task = asyncio.create_task(bus.run(), name="ask:bus")
    try:
        try:
            await asyncio.wait_for(bus.wait_connected(), 5.0)
        except TimeoutError as err:
            raise ConnectionError(bus.last_error or "no answer from the broker") from err
        turn = await ask(bus, answer, text, utt_id, timeout_s=timeout_s)
        if speak_to is not None:
            if not await recorder.wait_spoken(timeout_s):
                raise NoAnswer("the reply was not spoken (is the tts service running?)")
            seconds = recorder.write(speak_to)
            print(f"reply audio: {speak_to} ({seconds:.1f} s)")
        return turn
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tars ask", description="one typed turn; prints the reply"
    )
    parser.add_argument("text", nargs="+", help="what to say to TARS")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    parser.add_argument(
        "--speak",
        nargs="?",
        const="tars-reply.wav",
        type=Path,
        metavar="WAV",
        help="also write the spoken reply to WAV (default tars-reply.wav; needs the tts service)",
    )
    return parser


def run(runtime: RuntimeSettings, args: list[str]) -> int:
    """Entry point of ``tars ask``; returns the exit status."""
    options = _parser().parse_args(args)
    text = " ".join(options.text).strip()
    if not text:
        print("tars ask: nothing to ask")
        return 2
    try:
        turn = asyncio.run(_ask_stack(runtime, text, options.timeout, options.speak))
    except ConnectionError as err:
        print(
            f"tars ask: cannot reach the broker: {err} "
            "(check MQTT_URL or start the stack: `tars up`)"
        )
        return 1
    except NoAnswer as err:
        print(f"tars ask: {err}; is the router running? (`tars status`)")
        return 1
    print(turn.reply)
    return 0 if turn.route != "error" else 3
