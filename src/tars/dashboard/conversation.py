"""The conversation as a person reads it: one line per utterance, reply or notable event.

`ConversationLog.apply` turns bus payloads (transcripts, LLM deltas, TTS pieces, finished
turns, rejections, continuations, barge-ins) into upserts of `Line`s keyed by id, so a UI
can redraw a line in place while a partial grows, a reply streams or a turn is cut off. It
also says why a turn got no answer: a rejected transcript carries the filter and its
reason, a continuation marks the earlier part as joined, a barge-in marks the reply as
interrupted.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tars.contracts import conversation, llm, stt, tts, wake
from tars.contracts.base import LOCAL_SATELLITE

LineRole = Literal["user", "tars", "note"]
_IDS_KEPT = 1024


@dataclass(slots=True)
class Line:
    """One line of the conversation view."""

    id: str
    """Stable id: ``u:<utterance>``, ``a:<reply>`` or ``n:<number>``."""
    satellite: str
    """Satellite the line belongs to."""
    role: LineRole
    """Who speaks: the user, TARS, or a note about what happened."""
    text: str = ""
    """What was said (so far)."""
    state: str = ""
    """user: partial, final, typed, rejected, continued; tars: thinking, streaming,
    speaking, done, interrupted, error, ack, announce; note: info, warn."""
    detail: str | None = None
    """Why: a rejection's filter and reason, the route of a reply, an interruption's cause."""
    ts: float = 0.0
    """When the line was last changed, Unix seconds."""
    order: int = 0
    """Creation order (lines are shown in this order)."""

    def as_dict(self) -> dict[str, Any]:
        """The line as plain JSON-ready data."""
        return asdict(self)


class ConversationLog:
    """Bounded conversation lines of every satellite, built from bus payloads."""

    def __init__(self, max_lines: int = 400) -> None:
        """Keep at most ``max_lines`` lines (the oldest are forgotten first)."""
        self._max = max_lines
        self._lines: collections.OrderedDict[str, Line] = collections.OrderedDict()
        self._satellite_of: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._streamed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._order = itertools.count(1)

    def lines(self, satellite: str | None = None) -> list[Line]:
        """Lines in creation order, of one satellite or of all."""
        return [line for line in self._lines.values() if satellite in (None, line.satellite)]

    def satellites(self) -> list[str]:
        """Satellites that have lines, in order of first appearance."""
        return list(dict.fromkeys(line.satellite for line in self._lines.values()))

    def apply(self, topic: str, data: Any, ts: float) -> list[Line]:
        """Fold one bus payload into the log; returns the lines it created or changed."""
        handler = _HANDLERS.get(topic)
        if handler is None:
            return []
        changed: list[Line] = handler(self, data, ts)
        return changed

    # -- helpers ---------------------------------------------------------------------------
    def _line(self, key: str, satellite: str, role: LineRole, ts: float) -> Line:
        line = self._lines.get(key)
        if line is None:
            line = Line(id=key, satellite=satellite, role=role, ts=ts, order=next(self._order))
            self._lines[key] = line
            while len(self._lines) > self._max:
                self._lines.popitem(last=False)
        line.ts = ts
        return line

    def _note(self, satellite: str, text: str, ts: float, state: str = "info") -> Line:
        line = self._line(f"n:{next(self._order)}", satellite, "note", ts)
        line.text, line.state = text, state
        return line

    def _remember(self, reply_id: str, satellite: str) -> None:
        self._satellite_of[reply_id] = satellite
        while len(self._satellite_of) > _IDS_KEPT:
            self._satellite_of.popitem(last=False)

    def _reply(self, reply_id: str, satellite: str | None, ts: float) -> Line:
        sat = satellite or self._satellite_of.get(reply_id) or LOCAL_SATELLITE
        self._remember(reply_id, sat)
        line = self._line(f"a:{reply_id}", sat, "tars", ts)
        if satellite and line.satellite != satellite:
            # Topics arrive on separate subscriptions: a stream delta (which names no
            # satellite) may come before the request that does.
            line.satellite = satellite
        return line

    def _user(self, utt_id: str | None, satellite: str | None, ts: float) -> Line:
        sat = satellite or LOCAL_SATELLITE
        key = utt_id or f"anon-{next(self._order)}"
        self._remember(key, sat)
        return self._line(f"u:{key}", sat, "user", ts)

    def _cut(self, reply_id: str | None, detail: str, ts: float) -> list[Line]:
        line = self._lines.get(f"a:{reply_id}") if reply_id else None
        if line is None or line.state in ("done", "error"):
            return []
        line.state, line.detail, line.ts = "interrupted", detail, ts
        return [line]

    # -- stt -------------------------------------------------------------------------------
    def _on_partial(self, data: stt.PartialTranscript, ts: float) -> list[Line]:
        line = self._user(data.utt_id, data.satellite, ts)
        if line.state in ("", "partial"):
            line.text, line.state = data.text, "partial"
        return [line]

    def _on_final(self, data: stt.FinalTranscript, ts: float) -> list[Line]:
        changed: list[Line] = []
        if data.continues:
            earlier = self._lines.get(f"u:{data.continues}")
            if earlier is not None:
                earlier.state, earlier.ts = "continued", ts
                earlier.detail = "joined with what followed into one request"
                changed.append(earlier)
        line = self._user(data.utt_id, data.satellite, ts)
        line.text = data.text
        line.state = "typed" if data.source == "text" else "final"
        line.detail = f"heard in the {data.heard_in} window" if data.heard_in else None
        return [*changed, line]

    def _on_rejected(self, data: stt.RejectedTranscript, ts: float) -> list[Line]:
        line = self._user(data.utt_id, data.satellite, ts)
        line.text, line.state = data.text, "rejected"
        line.detail = f"not answered: {data.filter} ({data.reason})"
        return [line]

    def _on_continuation(self, data: stt.TurnContinuation, ts: float) -> list[Line]:
        line = self._user(data.utt_id, data.satellite, ts)
        line.state = "continued"
        line.detail = f"you kept talking {data.gap_s:.1f} s later: waiting for the rest"
        return [line, *self._cut(data.utt_id, "cancelled: the turn went on", ts)]

    # -- llm -------------------------------------------------------------------------------
    def _on_request(self, data: llm.LLMRequest, ts: float) -> list[Line]:
        line = self._reply(data.id, data.satellite, ts)
        if not line.state:
            line.state = "thinking"
        return [line]

    def _on_stream(self, data: llm.LLMStreamDelta, ts: float) -> list[Line]:
        if data.done or not data.delta:
            return []
        line = self._reply(data.id, None, ts)
        if line.state in ("interrupted", "done", "error"):
            return []
        self._streamed[data.id] = None
        while len(self._streamed) > _IDS_KEPT:
            self._streamed.popitem(last=False)
        line.text += data.delta
        if line.state in ("", "thinking"):
            line.state = "streaming"
        return [line]

    def _on_response(self, data: llm.LLMResponse, ts: float) -> list[Line]:
        line = self._reply(data.id, data.satellite, ts)
        if data.error:
            line.state, line.detail = "error", f"LLM error: {data.error}"
        elif data.reply and not line.text:
            line.text = data.reply
        return [line]

    # -- tts -------------------------------------------------------------------------------
    def _on_say(self, data: tts.TtsSay, ts: float) -> list[Line]:
        reply_id = data.utt_id or f"say-{next(self._order)}"
        line = self._reply(reply_id, data.satellite, ts)
        if data.wake_ack or data.system_announce:
            line.text, line.state = data.text, "ack" if data.wake_ack else "announce"
            return [line]
        if reply_id not in self._streamed and line.state not in ("done", "interrupted"):
            line.text = f"{line.text} {data.text}".strip()
        if line.state in ("", "thinking", "streaming"):
            line.state = "speaking"
        return [line]

    def _on_status(self, data: tts.TtsStatus, ts: float) -> list[Line]:
        if data.event == "stopped":
            return self._cut(data.utt_id, f"stopped: {data.reason or 'stop'}", ts)
        return []

    # -- router and wake -------------------------------------------------------------------
    def _on_turn(self, data: conversation.ConversationTurn, ts: float) -> list[Line]:
        changed = []
        user = self._lines.get(f"u:{data.id}")
        if user is None and data.user_text:
            user = self._user(data.id, data.satellite, ts)
            user.text, user.state = data.user_text, "final"
            changed.append(user)
        line = self._reply(data.id, data.satellite, ts)
        if data.reply:
            line.text = data.reply
        line.state = (
            "interrupted" if data.interrupted else "error" if data.route == "error" else "done"
        )
        total = sum(data.timings_ms.values())
        line.detail = f"{data.route}" + (f" · {total:.0f} ms in stages" if total else "")
        return [*changed, line]

    def _on_wake(self, data: wake.WakeEvent, ts: float) -> list[Line]:
        satellite = data.satellite or LOCAL_SATELLITE
        if data.type == "wake":
            score = f" {data.confidence:.2f}" if data.confidence is not None else ""
            return [self._note(satellite, f"wake word ({data.wake_word or 'detected'}{score})", ts)]
        if data.type == "interrupt":
            note = self._note(satellite, "barge-in: you spoke over TARS", ts, "warn")
            return [note, *self._cut(data.tts_id, "interrupted by the wake word", ts)]
        if data.type == "timeout":
            return [self._note(satellite, "no request followed the wake word", ts, "warn")]
        if data.type in ("cancelled", "error"):
            why = f": {data.cause}" if data.cause else ""
            return [self._note(satellite, f"wake {data.type}{why}", ts, "warn")]
        return []


_HANDLERS: dict[str, Any] = {
    stt.TOPIC_STT_PARTIAL: ConversationLog._on_partial,
    stt.TOPIC_STT_FINAL: ConversationLog._on_final,
    stt.TOPIC_STT_REJECTED: ConversationLog._on_rejected,
    stt.TOPIC_STT_CONTINUATION: ConversationLog._on_continuation,
    llm.TOPIC_LLM_REQUEST: ConversationLog._on_request,
    llm.TOPIC_LLM_STREAM: ConversationLog._on_stream,
    llm.TOPIC_LLM_RESPONSE: ConversationLog._on_response,
    tts.TOPIC_TTS_SAY: ConversationLog._on_say,
    tts.TOPIC_TTS_STATUS: ConversationLog._on_status,
    conversation.TOPIC_CONVERSATION_TURN: ConversationLog._on_turn,
    wake.TOPIC_WAKE_EVENT: ConversationLog._on_wake,
}
CONVERSATION_TOPICS: tuple[str, ...] = tuple(_HANDLERS)
"""Topics that change the conversation view."""
