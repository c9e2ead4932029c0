"""What the router publishes: speech, playback control, LLM requests/cancels, state, turns."""

from __future__ import annotations

import time

from tars.contracts.conversation import (
    TOPIC_CONVERSATION_TURN,
    ConversationTurn,
    RouterState,
    router_state_topic,
)
from tars.contracts.limits import split_text
from tars.contracts.llm import (
    TOPIC_LLM_CANCEL,
    TOPIC_LLM_PREFILL,
    ConversationMessage,
    LLMCancel,
    LLMPrefill,
)
from tars.contracts.movement import (
    TOPIC_MOVEMENT_COMMAND,
    TOPIC_MOVEMENT_STOP,
    EmergencyStopCommand,
    MovementAction,
    MovementCommand,
)
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_SAY, TtsControl, TtsSay
from tars.runtime.bus import Bus
from tars.services.router.reply import Reply
from tars.services.router.state import Session


class Outputs:
    """Typed publishing helpers bound to one bus."""

    def __init__(self, bus: Bus) -> None:
        """Publish through ``bus``."""
        self._bus = bus

    async def say(self, reply: Reply, text: str, *, last: bool) -> None:
        """Send one piece of ``reply`` to TTS and record it as spoken."""
        if not reply.spoken:
            reply.mark("router_to_first_sentence")
            reply.first_say_wall = time.time()
        reply.spoken.append(text)
        if last:
            reply.complete = True
        # TTS refuses text past MAX_SAY_CHARS; a longer reply goes as several pieces.
        pieces = split_text(text)
        for index, piece in enumerate(pieces):
            say = TtsSay(
                text=piece,
                utt_id=reply.id,
                satellite=reply.satellite,
                stt_ts=reply.stt_ts,
                last=last and index == len(pieces) - 1,
            )
            await self._bus.publish(TOPIC_TTS_SAY, say)

    async def announce(
        self, text: str, *, utt_id: str, satellite: str | None, wake_ack: bool = False
    ) -> None:
        """Speak a phrase that is not part of a conversation turn (ack, announcement, timer)."""
        pieces = split_text(text)
        for index, piece in enumerate(pieces):
            say = TtsSay(
                text=piece,
                utt_id=utt_id,
                satellite=satellite,
                wake_ack=True if wake_ack else None,
                system_announce=None if wake_ack else True,
                last=index == len(pieces) - 1,
            )
            await self._bus.publish(TOPIC_TTS_SAY, say)

    async def prefill(
        self, satellite: str, history: list[ConversationMessage], question: str | None = None
    ) -> None:
        """Ask the LLM to read ``history`` (and the ``question`` so far) ahead of the request."""
        prefill = LLMPrefill(conversation_history=history, satellite=satellite, question=question)
        await self._bus.publish(TOPIC_LLM_PREFILL, prefill)

    async def stop_reply(self, reply: Reply, reason: str) -> None:
        """Cancel the LLM request (if still generating) and stop its playback."""
        await self._bus.publish(TOPIC_LLM_CANCEL, LLMCancel(id=reply.request_id, reason=reason))
        await self._bus.publish(
            TOPIC_TTS_CONTROL,
            TtsControl(action="stop", reason=reason, id=reply.id, satellite=reply.satellite),
        )

    async def move(self, action: MovementAction, speed: float, satellite: str | None) -> None:
        """Ask the movement service for one movement."""
        await self._bus.publish(
            TOPIC_MOVEMENT_COMMAND,
            MovementCommand(command=action, speed=speed, satellite=satellite),
        )

    async def stop_movement(self, reason: str) -> None:
        """Emergency stop, straight to the servo controller."""
        await self._bus.publish(TOPIC_MOVEMENT_STOP, EmergencyStopCommand(reason=reason[:200]))

    async def state(self, session: Session) -> None:
        """Publish the retained state of one satellite."""
        await self._bus.publish(
            router_state_topic(session.satellite),
            RouterState(
                satellite=session.satellite,
                phase=session.phase,
                live_mode=session.live_mode,
                utt_id=session.reply_id,
                since=session.since,
            ),
        )

    async def turn(self, reply: Reply) -> None:
        """Publish one finished turn."""
        await self._bus.publish(
            TOPIC_CONVERSATION_TURN,
            ConversationTurn(
                id=reply.id,
                satellite=reply.satellite,
                user_text=reply.user_text,
                reply=reply.text,
                route=reply.route,
                interrupted=reply.interrupted,
                timings_ms=dict(reply.timings_ms),
            ),
        )
